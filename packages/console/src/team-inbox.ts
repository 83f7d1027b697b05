import { computed, ref, shallowRef, watch } from 'vue';
import { type Conversation, detailOf, type Note, rest, type SignedInUser, type Team } from './api.ts';
import type { ChatStore } from './chat-store.ts';

/** The inbox's tabs: the team's queue, what I hold, everything the team answers (owner and supervisors). */
export type InboxTab = 'queue' | 'mine' | 'all';

/**
 * A team member's (or owner's) inbox over the chat store: which team, my
 * role in it, the tab and status the list is filtered by, the open
 * conversation's internal notes, and the work actions the API allows my role
 * (docs/API.md, Teams). Nothing here for buyers, admins and teams of one.
 */
export function createTeamInbox(me: SignedInUser, store: ChatStore) {
  const api = rest();
  const team = shallowRef<Team | null>(null);
  const tab = ref<InboxTab>('all');
  const status = ref<Conversation['status'] | ''>('');
  const notes = ref<Note[]>([]);
  const error = ref<string | null>(null);

  const mine = computed(() => team.value?.members.find((m) => m.user.id === me.id) ?? null);
  const role = computed(() => mine.value?.team_role ?? null);
  /** A team with members: a team of one works as before, without an inbox. */
  const active = computed(() => (team.value?.members.length ?? 0) > 1);
  /** The owner and supervisors see the whole team's conversations, assign them to anyone and release any. */
  const leads = computed(() => role.value === 'owner' || role.value === 'supervisor');
  const colleagues = computed(() => (team.value?.members ?? []).filter((m) => m.user.id !== me.id));

  async function loadTeam(ownerId: string): Promise<boolean> {
    const { data } = await api.GET('/api/teams/{owner_id}', { params: { path: { owner_id: ownerId } } });
    if (!data) return false;
    team.value = data;
    if (!active.value) return true;
    tab.value = leads.value ? 'all' : 'queue';
    await applyFilter();
    return true;
  }

  /**
   * The sign-in names the user's team, so an agent whose queue is empty sees the tabs at once.
   * A session kept from before the sign-in said so asks who it is.
   */
  async function discover(): Promise<void> {
    if (me.role !== 'merchant' && me.role !== 'service') return;
    const teamId = me.team_id !== undefined ? me.team_id : (await api.GET('/api/auth/me')).data?.team_id;
    if (teamId) await loadTeam(teamId);
  }

  async function applyFilter(): Promise<void> {
    const assignee = tab.value === 'queue' ? 'none' : tab.value === 'mine' ? 'me' : undefined;
    await store.setFilter({
      // The team's queue and mine; "all" also keeps the conversations the owner has as a customer
      // (a shop writing to the platform desk: that one is the desk's team's).
      ...(assignee ? { assignee_id: assignee, team_id: team.value?.owner_id } : {}),
      ...(status.value ? { status: status.value } : {}),
    });
  }

  async function setTab(next: InboxTab): Promise<void> {
    tab.value = next;
    await applyFilter();
  }

  async function setStatusFilter(next: Conversation['status'] | ''): Promise<void> {
    status.value = next;
    await applyFilter();
  }

  /** Shows a refusal in the panel, or the conversation as the server now has it. */
  function settled(data: Conversation | undefined, failure: unknown, response: Response): void {
    if (!data) {
      error.value = detailOf(failure, response);
      return;
    }
    error.value = null;
    store.replaced(data);
  }

  /** Claim (my id), assign or transfer (a colleague's), or release (null), with an optional note. */
  async function assign(conversationId: string, assigneeId: string | null, note?: string): Promise<void> {
    const {
      data,
      error: failure,
      response,
    } = await api.POST('/api/conversations/{id}/assignment', {
      params: { path: { id: conversationId } },
      body: { assignee_id: assigneeId, ...(note ? { note } : {}) },
    });
    settled(data, failure, response);
    // Claimed from the queue: it is under "mine" now, and stays on screen there.
    if (data && assigneeId === me.id && tab.value === 'queue') await setTab('mine');
  }

  async function setStatus(conversationId: string, next: Conversation['status']): Promise<void> {
    const {
      data,
      error: failure,
      response,
    } = await api.POST('/api/conversations/{id}/status', {
      params: { path: { id: conversationId } },
      body: { status: next },
    });
    settled(data, failure, response);
  }

  async function loadNotes(conversationId: string): Promise<void> {
    const { data } = await api.GET('/api/conversations/{id}/notes', { params: { path: { id: conversationId } } });
    if (store.selectedId.value === conversationId) notes.value = data ?? [];
  }

  async function addNote(conversationId: string, content: string): Promise<void> {
    const {
      data,
      error: failure,
      response,
    } = await api.POST('/api/conversations/{id}/notes', {
      params: { path: { id: conversationId } },
      body: { content },
    });
    if (!data) {
      error.value = detailOf(failure, response);
      return;
    }
    if (!notes.value.some((n) => n.id === data.id)) notes.value = [...notes.value, data];
  }

  /** My own availability for automatic assignment (a member may change only this of their own). */
  async function setAvailable(available: boolean): Promise<void> {
    const ownerId = team.value?.owner_id;
    if (!ownerId) return;
    const {
      data,
      error: failure,
      response,
    } = await api.PATCH('/api/teams/{owner_id}/members/{user_id}', {
      params: { path: { owner_id: ownerId, user_id: me.id } },
      body: { available },
    });
    if (!data) {
      error.value = detailOf(failure, response);
      return;
    }
    if (team.value)
      team.value = { ...team.value, members: team.value.members.map((m) => (m.user.id === me.id ? data : m)) };
  }

  watch(store.selectedId, (id) => {
    notes.value = [];
    error.value = null;
    if (id && active.value) void loadNotes(id);
  });
  store.client.on('note', (note) => {
    if (note.conversation_id === store.selectedId.value && !notes.value.some((n) => n.id === note.id))
      notes.value = [...notes.value, note];
  });

  return {
    team,
    role,
    mine,
    active,
    leads,
    colleagues,
    tab,
    status,
    notes,
    error,
    discover,
    setTab,
    setStatusFilter,
    assign,
    setStatus,
    addNote,
    setAvailable,
  };
}

export type TeamInbox = ReturnType<typeof createTeamInbox>;
