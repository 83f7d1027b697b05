import { createI18n } from 'vue-i18n';

/** Chinese first (the product's audience), English as the switch. Keys mirror each other. */
const zh = {
  app: { title: '在线客服控制台', language: '语言', signOut: '退出登录', signedInAs: '当前用户：{name}（{role}）' },
  roles: { buyer: '买家', merchant: '商家', service: '客服', admin: '管理员' },
  signIn: {
    heading: '登录',
    username: '用户名',
    password: '密码',
    submit: '登录',
    failed: '登录失败：{detail}',
    demoHeading: '演示账号（DEBUG 模式）',
    demoHint: '一键以演示用户身份登录',
  },
  chat: {
    conversations: '会话',
    empty: '暂无会话',
    noneSelected: '请选择一个会话',
    older: '加载更早的消息',
    unread: '{n} 条未读',
    newWith: '发起新会话',
    start: '开始',
    pickPartner: '选择对象',
    history: '与 {name} 的消息',
    composer: '输入消息',
    send: '发送',
    attach: '发送图片或文件',
    uploading: '正在上传…',
    uploadFailed: '上传失败：{detail}',
    sendFailed: '发送失败：{detail}',
    sending: '发送中',
    held: '审核中',
    recalled: '消息已撤回',
    productCard: '商品',
    orderCard: '订单',
    read: '已读',
    notRead: '未读',
    typing: '{name} 正在输入…',
    quickReplies: '快捷回复',
    image: '图片',
    file: '文件',
    reconnecting: '连接已断开，正在重新连接…',
    connecting: '正在连接…',
    closed: '连接已关闭，请刷新页面或重新登录',
    online: '在线',
    offline: '离线',
  },
  monitor: {
    heading: '管理监控',
    conversationsTab: '全部会话',
    usersTab: '用户',
    between: '{a} ↔ {b}',
    delete: '删除',
    confirmDelete: '确认删除',
    cancel: '取消',
    deleted: '消息已删除',
    deleteFailed: '删除失败：{detail}',
    search: '搜索用户（ID 或用户名）',
    find: '查找',
    role: '角色',
    allRoles: '全部角色',
    status: '状态',
    actions: '操作',
    disable: '停用',
    enable: '启用',
    statuses: { active: '正常', inactive: '已停用', deleted: '已删除' },
    total: '共 {n} 个用户',
  },
};

const en: typeof zh = {
  app: {
    title: 'Customer service console',
    language: 'Language',
    signOut: 'Sign out',
    signedInAs: 'Signed in as {name} ({role})',
  },
  roles: { buyer: 'Buyer', merchant: 'Merchant', service: 'Service agent', admin: 'Admin' },
  signIn: {
    heading: 'Sign in',
    username: 'Username',
    password: 'Password',
    submit: 'Sign in',
    failed: 'Sign-in failed: {detail}',
    demoHeading: 'Demo users (DEBUG mode)',
    demoHint: 'Sign in as a demo user in one click',
  },
  chat: {
    conversations: 'Conversations',
    empty: 'No conversations yet',
    noneSelected: 'Choose a conversation',
    older: 'Load earlier messages',
    unread: '{n} unread',
    newWith: 'Start a conversation',
    start: 'Start',
    pickPartner: 'With',
    history: 'Messages with {name}',
    composer: 'Type a message',
    send: 'Send',
    attach: 'Send an image or a file',
    uploading: 'Uploading…',
    uploadFailed: 'Upload failed: {detail}',
    sendFailed: 'Sending failed: {detail}',
    sending: 'Sending',
    held: 'Awaiting review',
    recalled: 'Message recalled',
    productCard: 'Product',
    orderCard: 'Order',
    read: 'Read',
    notRead: 'Unread',
    typing: '{name} is typing…',
    quickReplies: 'Quick replies',
    image: 'Image',
    file: 'File',
    reconnecting: 'Connection lost, reconnecting…',
    connecting: 'Connecting…',
    closed: 'Disconnected: reload the page or sign in again',
    online: 'online',
    offline: 'offline',
  },
  monitor: {
    heading: 'Admin monitor',
    conversationsTab: 'All conversations',
    usersTab: 'Users',
    between: '{a} ↔ {b}',
    delete: 'Delete',
    confirmDelete: 'Confirm delete',
    cancel: 'Cancel',
    deleted: 'Message deleted',
    deleteFailed: 'Delete failed: {detail}',
    search: 'Search users (id or username)',
    find: 'Search',
    role: 'Role',
    allRoles: 'All roles',
    status: 'Status',
    actions: 'Actions',
    disable: 'Disable',
    enable: 'Enable',
    statuses: { active: 'Active', inactive: 'Disabled', deleted: 'Deleted' },
    total: '{n} users',
  },
};

export type Locale = 'zh-CN' | 'en';
const LOCALE_KEY = 'console.locale';

function initialLocale(): Locale {
  return localStorage.getItem(LOCALE_KEY) === 'en' ? 'en' : 'zh-CN';
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zh, en },
});

/** Switches the language, remembers it, and tells assistive technology through <html lang>. */
export function setLocale(locale: Locale): void {
  i18n.global.locale.value = locale;
  localStorage.setItem(LOCALE_KEY, locale);
  document.documentElement.lang = locale;
}
