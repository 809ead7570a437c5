export { ErrorCodes, type ErrorCode, type ErrorCodeDescriptor } from './codes.js'
export { RegistryError, isRegistryError, type RegistryErrorOptions } from './registry-error.js'
export { toEnvelope, type ErrorEnvelope, type ErrorEnvelopeEntry } from './envelope.js'
