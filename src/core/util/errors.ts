export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** A failure the user can fix: its message is shown as-is, without a stack trace. */
export class UserError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UserError'
  }
}
