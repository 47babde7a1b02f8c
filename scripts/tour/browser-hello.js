'use strict';
// The Node form of the notes' Python example, in the browser chapter: the
// module a Process runs, standing for Python's `f(name)`. Its argument comes
// in process.argv, as Process's `args` put it there.

const [name] = process.argv.slice(2);
console.log('hello', name, '- pid', process.pid, 'ppid', process.ppid);
