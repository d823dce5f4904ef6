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
  // Most tests wait (agents sleeping, API write spacing, kill graces) rather than compute, so
  // more workers than the 2 cores keep the suite short.
  maxWorkers: 4,
  clearMocks: true
}
