// jest runs each test file in a vm context, whose Symbol lacks what Node adds
// to the main one; TypeScript's `using` and `await using` need Symbol.dispose
// and Symbol.asyncDispose. Node's own are the registered symbols
// 'nodejs.dispose' and 'nodejs.asyncDispose', so both realms agree on them.
if (!Symbol.dispose) Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('nodejs.dispose') });
if (!Symbol.asyncDispose) Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') });
