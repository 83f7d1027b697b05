import { errorResponses, IdParams, pageOf, SuccessResponse } from '@cs-chat/contracts/rest/common.schemas';
import {
  ChangePasswordBody,
  CreateUserBody,
  EnsureUsersBody,
  ListUsersQuery,
  StatusQuery,
  UpdateUserBody,
  User,
  UserList,
} from '@cs-chat/contracts/rest/user.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { adminOnly } from '../../http/authenticate.ts';
import { LIST_ROUTE } from '../../quotas/list-guard.ts';
import type { UserService } from './user.service.ts';

export const userRoutes: FastifyPluginAsyncTypebox<{ users: UserService }> = async (app, { users }) => {
  const tags = ['users'];

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'listUsers',
        summary: 'List users (admins: everyone; others: the merchant and service directory)',
        querystring: ListUsersQuery,
        response: { 200: UserList, ...errorResponses(401, 403, 422, 429, 503) },
      },
      config: LIST_ROUTE,
    },
    (request) => users.list(request.caller, request.query, pageOf(request.query, 20)),
  );

  app.post(
    '/ensure',
    {
      schema: {
        tags,
        operationId: 'ensureUsers',
        summary: 'Create the listed users that do not exist yet (admin)',
        body: EnsureUsersBody,
        response: {
          200: Type.Array(User, { description: 'The listed users, as stored (existing ones unchanged)' }),
          ...errorResponses(401, 403, 409, 422, 503),
        },
      },
      onRequest: adminOnly,
    },
    (request) => users.ensure(request.body),
  );

  app.get(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'getUser',
        summary: 'One user',
        params: IdParams,
        response: { 200: User, ...errorResponses(401, 404, 422, 503) },
      },
    },
    (request) => users.get(request.caller, request.params.id),
  );

  app.post(
    '/',
    {
      schema: {
        tags,
        operationId: 'createUser',
        summary: 'Create a user (admin); the id is generated as {letter}{n} when absent',
        body: CreateUserBody,
        response: { 201: User, ...errorResponses(401, 403, 409, 422, 503) },
      },
      onRequest: adminOnly,
    },
    async (request, reply) => reply.code(201).send(await users.create(request.body)),
  );

  app.put(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'updateUser',
        summary: 'Update a user (admin; yourself for username, avatar and description)',
        params: IdParams,
        body: UpdateUserBody,
        response: { 200: User, ...errorResponses(400, 401, 403, 404, 409, 422, 429, 503) },
      },
    },
    (request) => users.update(request.caller, request.params.id, request.body),
  );

  app.patch(
    '/:id/status',
    {
      schema: {
        tags,
        operationId: 'setUserStatus',
        summary: 'Activate or deactivate a user (admin); deactivation closes their sockets',
        params: IdParams,
        querystring: StatusQuery,
        response: { 200: User, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
      onRequest: adminOnly,
    },
    (request) => users.setStatus(request.caller, request.params.id, request.query.status),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'deleteUser',
        summary: 'Soft-delete a user (admin)',
        params: IdParams,
        response: { 200: SuccessResponse, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
      onRequest: adminOnly,
    },
    async (request) => {
      await users.softDelete(request.caller, request.params.id);
      return { status: 'success' as const, message: `user ${request.params.id} deleted` };
    },
  );

  app.put(
    '/:id/password',
    {
      schema: {
        tags,
        operationId: 'changePassword',
        summary: 'Change a password (admin; yourself with old_password)',
        params: IdParams,
        body: ChangePasswordBody,
        response: { 200: SuccessResponse, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
    },
    async (request) => {
      await users.changePassword(request.caller, request.params.id, request.body);
      return { status: 'success' as const };
    },
  );
};
