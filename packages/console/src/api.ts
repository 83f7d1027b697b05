import { type components, createRestClient, type RestClient } from '@cs-chat/sdk/rest';
import { shallowRef } from 'vue';
import { i18n } from './i18n.ts';

export type User = components['schemas']['User'];
/** The signed-in user: a `User` with their team and their role in it (null without a team). */
export type SignedInUser = components['schemas']['SignedInUser'];
export type Conversation = components['schemas']['Conversation'];
export type Message = components['schemas']['Message'];
export type QuickReply = components['schemas']['QuickReply'];
export type Team = components['schemas']['Team'];
export type TeamMember = components['schemas']['TeamMember'];
export type Note = components['schemas']['Note'];
export type TeamReport = components['schemas']['TeamReport'];
export type TeamReportRow = TeamReport['totals'];
export type TeamRanking = components['schemas']['TeamRanking'];
export type Role = User['role'];

/** Who may read response-time reports (GET /api/reports/…): a team's owner and supervisors, and admins. */
export function mayReadReports(user: SignedInUser): boolean {
  return user.role === 'admin' || user.team_role === 'owner' || user.team_role === 'supervisor';
}

/** The console is served by the chat server itself: the API is on this origin. */
export const baseUrl = location.origin;

/** Who is signed in in this tab (sessionStorage: two tabs may be two users, as in a demo). */
export interface Session {
  token: string;
  user: SignedInUser;
}

const SESSION_KEY = 'console.session';

function storedSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export const session = shallowRef<Session | null>(storedSession());

export function signedIn(value: Session | null): void {
  if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION_KEY);
  session.value = value;
}

/** The server's error messages (`detail`) in the console's language. */
function speaking(client: RestClient): RestClient {
  client.use({
    onRequest({ request }) {
      request.headers.set('accept-language', i18n.global.locale.value === 'en' ? 'en' : 'zh-CN');
      return request;
    },
  });
  return client;
}

/** The REST client of the session's user (the SDK's: typed paths and answers). */
export function rest(): RestClient {
  const client = speaking(createRestClient({ baseUrl, token: () => session.value?.token ?? '' }));
  // A 401 means the session ended (expired, logged out everywhere, password changed): back to sign-in.
  client.use({
    onResponse({ response }) {
      if (response.status === 401 && session.value) signedIn(null);
      return response;
    },
  });
  // A page loads several lists at once, and the server lets one user run only a few list requests
  // at a time (429 with Retry-After): a read refused so is tried again after the time it names.
  client.use({
    async onResponse({ request, response }) {
      let answer = response;
      for (let attempt = 0; answer.status === 429 && request.method === 'GET' && attempt < 3; attempt++) {
        const seconds = Number(answer.headers.get('retry-after') ?? '1');
        await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(seconds, 0.2), 3) * 1000));
        answer = await fetch(request.clone());
      }
      return answer;
    },
  });
  return client;
}

/** A public client (sign-in). */
export const publicRest = speaking(createRestClient({ baseUrl }));

/** The server's human message of a failed call (`detail`, in the UI's language when it sent Accept-Language). */
export function detailOf(error: unknown, response?: Response): string {
  if (error && typeof error === 'object' && 'detail' in error && typeof error.detail === 'string') return error.detail;
  return response ? `HTTP ${response.status}` : String(error);
}

/**
 * The participant `me` answers as: themselves, or, for a team member who is
 * no participant, the team's owner (docs/API.md: members act as the team's side).
 */
export function sideOf(conversation: Conversation, me: string): string {
  if (conversation.participant1_id === me || conversation.participant2_id === me) return me;
  return conversation.team_id ?? me;
}

/** The other participant of a conversation, seen by `me` (the customer, for a team member). */
export function partnerOf(conversation: Conversation, me: string): User | null {
  return conversation.participant1_id === sideOf(conversation, me)
    ? conversation.participant2
    : conversation.participant1;
}

export function unreadFor(conversation: Conversation, me: string): number {
  return conversation.participant1_id === sideOf(conversation, me)
    ? conversation.participant1_unread
    : conversation.participant2_unread;
}

/**
 * Uploads an image or a file (multipart, field `file`); the server decides
 * the kind from the bytes, the console only picks the endpoint.
 */
export async function upload(file: File): Promise<{ url: string; filename: string; file_type: 'image' | 'file' }> {
  const kind = file.type.startsWith('image/') ? 'image' : 'file';
  const form = new FormData();
  form.append('file', file);
  const response = await fetch(`${baseUrl}/api/upload/${kind}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${session.value?.token ?? ''}`,
      'accept-language': i18n.global.locale.value === 'en' ? 'en' : 'zh-CN',
    },
    body: form,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(detailOf(body, response));
  return body;
}

export function formatTime(seconds: number | null | undefined, locale: string): string {
  if (!seconds) return '';
  const date = new Date(seconds * 1000);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(locale, { month: 'short', day: 'numeric' });
}
