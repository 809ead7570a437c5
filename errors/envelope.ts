import type { RegistryError } from './registry-error.js'

export interface ErrorEnvelopeEntry {
  code: string
  message: string
  detail?: unknown
}

/** The spec's error body: `{"errors":[{"code","message","detail"}]}`. */
export interface ErrorEnvelope {
  errors: ErrorEnvelopeEntry[]
}

export function toEnvelope (...errors: RegistryError[]): ErrorEnvelope {
  return {
    errors: errors.map((error) => {
      const entry: ErrorEnvelopeEntry = { code: error.code, message: error.message }
      if (error.detail !== undefined) entry.detail = error.detail
      return entry
    })
  }
}
