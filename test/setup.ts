// jest runs each test file in a vm context, whose Symbol lacks what Node adds
// to the main one; TypeScript's `using` needs Symbol.dispose. Node's own is the
// registered symbol 'nodejs.dispose', so both realms agree on it.
if (!Symbol.dispose) Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('nodejs.dispose') });
