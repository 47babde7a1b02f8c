'use strict';
// The worker of the pool suite's `fork` contender: a minimal request/response
// loop over `process.send`, as a user writes one. A request is
// `{ id, name, arg }`; the answer `{ id, value }` (the tasks of pool-task.js
// do not throw). The worker exits when its parent disconnects.

const tasks = require('./pool-task');

process.on('message', ({ id, name, arg }) => {
  process.send({ id, value: tasks[name](arg) });
});
