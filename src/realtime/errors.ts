import type { SocketErrorCode } from '@cs-chat/contracts/error-codes';
import type { FrameRejection } from '@cs-chat/contracts/ws/frame-parser';
import type { ErrorEvent } from '@cs-chat/contracts/ws/protocol';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { type Language, type MESSAGES, translate } from '../http/messages.ts';
import { DomainError } from '../lib/errors.ts';

/** Error codes only the WebSocket gateway produces, in the same two languages as the REST ones. */
const REALTIME_MESSAGES = {
  invalid_frame: { zh: '消息帧必须是一个 JSON 对象', en: 'A frame must be a JSON object' },
  unknown_frame_type: { zh: '未知的消息帧类型', en: 'Unknown frame type' },
  rate_limited: { zh: '发送过于频繁，请稍后再试', en: 'Too many frames; slow down' },
  binary_not_supported: { zh: '只接受文本消息帧', en: 'Only text frames are accepted' },
} as const satisfies Record<SocketErrorCode, { zh: string; en: string }>;

export type RealtimeErrorType = keyof typeof REALTIME_MESSAGES | keyof typeof MESSAGES;

function describe(type: RealtimeErrorType, language: Language): string {
  return type in REALTIME_MESSAGES
    ? REALTIME_MESSAGES[type as keyof typeof REALTIME_MESSAGES][language]
    : translate(type as keyof typeof MESSAGES, language);
}

export function errorEvent(
  type: RealtimeErrorType,
  language: Language,
  extra: { clientMsgId?: string | null | undefined; errors?: string[] | undefined } = {},
): ErrorEvent {
  return {
    type: 'error',
    detail: describe(type, language),
    error_type: type,
    ...(extra.clientMsgId !== undefined ? { client_msg_id: extra.clientMsgId } : {}),
    ...(extra.errors !== undefined ? { errors: extra.errors } : {}),
  };
}

export function rejectionEvent(rejection: FrameRejection, language: Language): ErrorEvent {
  return errorEvent(rejection.errorType, language, { clientMsgId: rejection.clientMsgId, errors: rejection.errors });
}

/**
 * What a failed frame tells the client: a service's DomainError by its code
 * (whatever its kind: a frame has no status to map it to); a
 * database outage as such; anything else as an internal error, whose detail
 * stays in the log (the caller logs it).
 */
export function failureEvent(
  error: unknown,
  language: Language,
  clientMsgId?: string | null,
): { event: ErrorEvent; unexpected: boolean } {
  if (error instanceof DomainError)
    return { event: errorEvent(error.code, language, { clientMsgId }), unexpected: false };
  if (isDatabaseUnavailable(error)) {
    return { event: errorEvent('database_unavailable', language, { clientMsgId }), unexpected: false };
  }
  return { event: errorEvent('internal_error', language, { clientMsgId }), unexpected: true };
}
