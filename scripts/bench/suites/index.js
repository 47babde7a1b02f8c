'use strict';
// Every suite, in the order they run. A new suite is one module in this
// directory (see lib/harness.js for what it exports) and one line here.

module.exports = [
  require('./shm-copy'),
  require('./mq'),
  require('./pipe'),
  require('./sync'),
  require('./channel'),
  require('./pool'),
];
