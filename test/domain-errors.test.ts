import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpAnswerOf } from '../src/http/error-handler.ts';
import {
  badRequest,
  conflict,
  DomainError,
  forbidden,
  notFound,
  tooMany,
  unauthorized,
  unavailable,
  unprocessable,
} from '../src/lib/errors.ts';
import { failureEvent } from '../src/realtime/errors.ts';

// The wire answers themselves are asserted end to end (bad-input, authorization-matrix, auth, quotas…);
// this pins the one table between a service's kind of error and the HTTP status it becomes.
test('each kind of domain error becomes its HTTP status, with the headers it always had', () => {
  const cases: [DomainError, number, Record<string, string>][] = [
    [badRequest('bad_request'), 400, {}],
    [unauthorized(), 401, { 'www-authenticate': 'Bearer' }],
    [unauthorized('token_expired'), 401, { 'www-authenticate': 'Bearer' }],
    [forbidden(), 403, {}],
    [notFound('user_not_found'), 404, {}],
    [conflict('username_taken'), 409, {}],
    [new DomainError('too_large', 'upload_too_large'), 413, {}],
    [new DomainError('unsupported', 'upload_not_multipart'), 415, {}],
    [new DomainError('unsatisfiable', 'range_not_satisfiable'), 416, {}],
    [unprocessable('validation_error', ['body.x: is required']), 422, {}],
    [tooMany('too_many_attempts', 42), 429, { 'retry-after': '42' }],
    [unavailable(), 503, { 'retry-after': '5' }],
  ];
  for (const [error, status, headers] of cases) {
    assert.deepEqual(httpAnswerOf(error), { status, headers }, `${error.kind} ${error.code}`);
  }
  assert.equal(forbidden().code, 'forbidden');
  assert.equal(notFound().code, 'not_found');
  assert.equal(unavailable().code, 'service_unavailable');
  assert.deepEqual(unprocessable('validation_error', ['a: b']).errors, ['a: b']);
});

test('over the WebSocket a domain error is answered by its code, whatever its kind', () => {
  const { event, unexpected } = failureEvent(tooMany('send_rate_limited', 3), 'en', 'c1');
  assert.equal(unexpected, false);
  assert.equal(event.error_type, 'send_rate_limited');
  assert.equal(event.client_msg_id, 'c1');
  assert.equal(failureEvent(new Error('boom'), 'en').unexpected, true);
});
