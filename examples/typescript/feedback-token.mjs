// Mints rlhf-otel feedback tokens in Node: the same format as the Python SDK's
// logger.feedback_token(), verified by `rlhf-otel serve` with the shared secret.
//
//   <key id>.<payload>.<signature>
//   payload   = base64url (no padding) of JSON {"v":1,"j":id,"i":[ids],"t":[types],"u"?:user,"e":expiry}
//   signature = base64url (no padding) of HMAC-SHA256(secret, key id + "\x1f" + payload)
//
// See docs/feedback-service.md ("Tokens from a non-Python backend").
import { createHmac, randomBytes } from 'node:crypto';

export const FEEDBACK_TYPES = Object.freeze([
  'binary',
  'rating',
  'text',
  'multi_dimensional',
  'comparative',
]);

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_IDS = 16;
const MAX_TTL_SECONDS = 30 * 86400;
// The Python SDK's id rule: 1-256 of A-Z a-z 0-9 . _ : @ / + = -, starting with a letter or digit.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@\/+=-]{0,255}$/;

/**
 * A signed feedback token allowing feedback of `types` on `interactionIds`.
 *
 * @param {object} options
 * @param {string} options.secret the shared secret (RLHF_OTEL_FEEDBACK_SECRET), at least 16 characters
 * @param {string|string[]} options.interactionIds 1 to 16 interaction ids
 * @param {string} [options.keyId='k0'] the key id the secret is known by (feedback_key_id)
 * @param {string[]} [options.types] allowed feedback types (default: all)
 * @param {string} [options.userId] the user the feedback is stamped with
 * @param {number} [options.ttlSeconds=3600] lifetime, 1 s to 30 days
 * @param {number} [options.now] Unix seconds (default: now)
 * @returns {string} `<key id>.<payload>.<signature>`
 * @throws {RangeError} an argument is not allowed (the message says what is)
 */
export function mintFeedbackToken({
  secret,
  interactionIds,
  keyId = 'k0',
  types = FEEDBACK_TYPES,
  userId,
  ttlSeconds = 3600,
  now = Date.now() / 1000,
}) {
  if (typeof secret !== 'string' || secret.length < 16) {
    throw new RangeError('the feedback secret must be a string of at least 16 characters');
  }
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) {
    throw new RangeError(`key id ${JSON.stringify(keyId)} is not allowed: 1-32 of A-Z a-z 0-9 _ -`);
  }
  const ids = [...new Set(typeof interactionIds === 'string' ? [interactionIds] : interactionIds ?? [])];
  if (ids.length < 1 || ids.length > MAX_IDS) {
    throw new RangeError(`a token covers 1 to ${MAX_IDS} interactions; got ${ids.length}`);
  }
  for (const id of [...ids, ...(userId === undefined ? [] : [userId])]) {
    if (typeof id !== 'string' || !SAFE_ID.test(id)) {
      throw new RangeError(
        `id ${JSON.stringify(id)} is malformed: 1-256 of A-Z a-z 0-9 . _ : @ / + = - starting with a letter or digit`,
      );
    }
  }
  const allowed = [...new Set(types)];
  if (allowed.length === 0 || allowed.some((t) => !FEEDBACK_TYPES.includes(t))) {
    throw new RangeError(`feedback types ${JSON.stringify(types)} not allowed; allowed: ${FEEDBACK_TYPES.join(', ')}`);
  }
  if (typeof ttlSeconds !== 'number' || !(ttlSeconds >= 1 && ttlSeconds <= MAX_TTL_SECONDS)) {
    throw new RangeError(`ttlSeconds must be 1 to ${MAX_TTL_SECONDS}; got ${ttlSeconds}`);
  }
  const payload = {
    v: 1,
    j: randomBytes(12).toString('base64url'),
    i: ids,
    t: allowed,
    e: Math.floor(now + ttlSeconds),
  };
  if (userId !== undefined) payload.u = userId;
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const signature = createHmac('sha256', secret).update(`${keyId}\x1f${body}`).digest('base64url');
  return `${keyId}.${body}.${signature}`;
}
