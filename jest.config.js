// Native-ESM Jest (run with --experimental-vm-modules, see package.json "test").
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  resolver: 'ts-jest-resolver',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', useESM: true }]
  },
  testMatch: ['**/__tests__/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // Real git and child processes: give slow CI machines room, tests still finish in seconds.
  testTimeout: 60000,
  clearMocks: true
}
