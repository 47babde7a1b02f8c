'use strict';
// workerpool's worker for the pool suite: registers pool-task.js's functions,
// as workerpool wants them (`workerpool.worker({ name: fn })`).

require('workerpool').worker(require('./pool-task'));
