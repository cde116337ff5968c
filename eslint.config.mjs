// `npm run lint` runs this after the type check: the rules that catch real bugs in asynchronous
// code and dead code. Formatting is prettier's business, not eslint's.
import tseslint from 'typescript-eslint';

export default tseslint.config(
    { ignores: ['node_modules/', 'build/', 'dist/', '.scratch/', 'coverage/', 'tests/package/integrator/'] }, // (the integrator's project: checked against the packed package by tests/package/)
    {
        files: ['**/*.ts'],
        extends: [tseslint.configs.base],
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            // a promise nobody awaits loses its error (and often a chain transaction)
            '@typescript-eslint/no-floating-promises': 'error',
            '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
            '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
        },
    },
);
