import type { RegistryEvent } from '../events/event.js'
import type { ResolvedEndpoint } from './options.js'

/**
 * Whether an endpoint's ignore rules keep an event from it, as distribution's
 * ignored sink: the target's media type (exactly) is in `ignore.mediatypes` or
 * `ignoredmediatypes`, or the action is in `ignore.actions`. Events without a
 * media type (deletes) are only ignored by action.
 */
export function isIgnored (event: RegistryEvent, rules: Pick<ResolvedEndpoint, 'ignoredMediaTypes' | 'ignoredActions'>): boolean {
  if (rules.ignoredActions.has(event.action)) return true
  const mediaType = event.target.mediaType
  return mediaType !== undefined && rules.ignoredMediaTypes.has(mediaType)
}
