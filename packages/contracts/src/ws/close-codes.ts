/** Close codes the gateway uses; 44xx mirror the HTTP statuses of a refused upgrade. */
export const CloseCode = {
  /** Continued abuse (rate limit) after `error` events. */
  policyViolation: 1008,
  /** A frame larger than MAX_FRAME_BYTES of protocol.ts (sent by `ws` itself). */
  messageTooBig: 1009,
  /** Shutdown: reconnect, possibly to another instance. */
  serviceRestart: 1012,
  /** The credentials stopped being valid. */
  unauthorized: 4401,
  /** The user was deactivated or deleted. */
  forbidden: 4403,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
