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
  // Fails a test whose GitHub API stand-in saw a request or gave an answer that GitHub's
  // published API description does not allow (test-support/fake-github.ts).
  setupFilesAfterEnv: ['<rootDir>/test-support/jest-setup.ts'],
  // Real git and child processes: give slow CI machines room, tests still finish in seconds.
  testTimeout: 60000,
  // Most tests wait (agents sleeping, API write spacing, kill graces) rather than compute, so
  // more workers than the 2 cores keep the suite short.
  maxWorkers: 4,
  clearMocks: true
}
