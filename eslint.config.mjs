// ESLint (flat config): the recommended rules of ESLint and typescript-eslint over lib/, test/
// and scripts/, plus lines of at most 120 columns (in lib/, strings included). native/ is C++:
// clang-format checks it (scripts/format-check.sh).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'build/', 'build-asan/', 'dist/', 'docs/', 'prebuilds/', 'coverage/', 'bench-results/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      globals: { ...globals.node },
    },
    rules: {
      'max-len': ['error', {
        code: 120,
        // A URL, or a string or template literal that cannot wrap, may run past the margin.
        ignoreUrls: true,
        ignoreStrings: true,
        ignoreTemplateLiterals: true,
        ignoreRegExpLiterals: true,
      }],
      // A leading underscore marks a parameter or binding that is unused on purpose.
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_',
        varsIgnorePattern: '^_',
        caughtErrorsIgnorePattern: '^_',
        destructuredArrayIgnorePattern: '^_',
      }],
    },
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    rules: {
      // `export interface X extends Referable {}` merges a mixin's members (implementRef) into the class X on purpose.
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
      // The same declaration merging is how a class states the members its mixin adds; the mixin does add them.
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
    },
  },
  {
    // The library itself: every line within 120 columns, its strings included (a long message is
    // split with `+`); only a URL may run past.
    files: ['lib/**/*.ts', 'lib/**/*.mts'],
    rules: { 'max-len': ['error', { code: 120, ignoreUrls: true }] },
  },
  {
    // The addon is loaded by a path known only at run time (node-gyp-build, or POSIX_IPC_ADDON for the ASan build).
    files: ['lib/binding.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The test fixtures, the bench and the tour are CommonJS scripts run by plain node.
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
