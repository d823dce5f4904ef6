// Loaded into every test file (jest.config.js setupFilesAfterEnv): a test fails when a GitHub
// API stand-in it used saw a request, or gave an answer, that GitHub's API description does not
// allow — whichever side drifted from the real API.
import { afterEach } from '@jest/globals'
import { FakeGitHub } from './fake-github.js'

afterEach(() => {
  FakeGitHub.assertConformance()
})
