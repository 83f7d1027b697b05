import type { ErrorCode } from '@cs-chat/contracts/error-codes';

/**
 * Every human-readable error message, in Chinese (the default audience) and
 * English (Accept-Language: en). Keys are the stable `error_type` codes of the
 * contracts package, each of which must have its texts here, plus the detail
 * of an internal error in debug mode.
 */
export const MESSAGES = {
  not_authenticated: { zh: '未认证：缺少或无效的访问令牌', en: 'Not authenticated: missing or invalid token' },
  token_expired: { zh: '访问令牌已过期，请重新登录', en: 'The access token has expired; sign in again' },
  invalid_token: { zh: '访问令牌无效', en: 'The access token is invalid' },
  token_revoked: {
    zh: '登录已失效（已退出登录、修改了密码或账号状态变更），请重新登录',
    en: 'This session has ended (signed out, password changed or account changed); sign in again',
  },
  invalid_ticket: {
    zh: 'WebSocket 票据无效、已使用或已过期',
    en: 'The WebSocket ticket is invalid, already used or expired',
  },
  origin_not_allowed: {
    zh: '使用 Cookie 认证的修改请求必须来自允许的来源（Origin）',
    en: 'A cookie-authenticated request that changes something must come from an allowed Origin',
  },
  user_inactive: { zh: '用户已被禁用或删除', en: 'This user is inactive or deleted' },
  invalid_credentials: { zh: '用户名或密码错误', en: 'Wrong username or password' },
  too_many_attempts: { zh: '登录失败次数过多，请稍后再试', en: 'Too many failed sign-ins; try again later' },
  invalid_api_key: { zh: 'API 密钥无效', en: 'Invalid API key' },
  forbidden: { zh: '没有权限执行此操作', en: 'You are not allowed to do this' },
  admin_read_only: { zh: '管理员只能查看会话，不能发送消息', en: 'Admins can read conversations but never send' },
  not_found: { zh: '资源不存在', en: 'Not found' },
  route_not_found: { zh: '接口不存在', en: 'No such endpoint' },
  user_not_found: { zh: '用户不存在', en: 'User not found' },
  conversation_not_found: { zh: '会话不存在', en: 'Conversation not found' },
  message_not_found: { zh: '消息不存在', en: 'Message not found' },
  quick_reply_not_found: { zh: '快捷回复不存在', en: 'Quick reply not found' },
  team_not_found: { zh: '团队不存在', en: 'Team not found' },
  member_not_found: { zh: '团队成员不存在', en: 'Team member not found' },
  assigned_to_other: { zh: '该会话已由其他客服接待', en: 'The conversation is assigned to another member' },
  cannot_escalate: {
    zh: '只有买家与店铺之间的会话可以升级到平台客服',
    en: 'Only a conversation between a buyer and a shop can be escalated to the platform desk',
  },
  not_a_team_member: { zh: '该用户属于其他团队', en: 'The user belongs to another team' },
  conversation_not_resolved: {
    zh: '会话尚未解决，解决后才能评价',
    en: 'The conversation can be rated once it is resolved',
  },
  invalid_timezone: {
    zh: '时区无效，请使用 IANA 时区名（如 Asia/Shanghai）',
    en: 'Unknown time zone: use an IANA name such as Asia/Shanghai',
  },
  invalid_business_hours: {
    zh: '营业时间无效：休息日须为真实存在的日期',
    en: 'Invalid business hours: each day off must be a real date',
  },
  invalid_report_range: {
    zh: '报表日期范围无效：from 与 to 须为真实日期（YYYY-MM-DD），from 不晚于 to，且跨度不超过 366 天',
    en: 'Invalid report range: from and to must be real dates (YYYY-MM-DD), from not after to, at most 366 days',
  },
  already_rated: { zh: '您已评价过本次服务', en: 'This resolution of the conversation is already rated' },
  webhook_not_found: { zh: 'Webhook 不存在', en: 'Webhook not found' },
  webhook_delivery_not_found: { zh: 'Webhook 投递记录不存在', en: 'Webhook delivery not found' },
  card_not_found: { zh: '商品或订单卡片不存在', en: 'No such product or order card' },
  user_id_taken: { zh: '用户ID已存在', en: 'A user with this id already exists' },
  username_taken: { zh: '用户名已被使用', en: 'This username is already taken' },
  username_reserved: {
    zh: '该用户名仿冒平台或客服人员，仅限客服与管理员账号使用',
    en: 'This username imitates platform staff and is reserved for service and admin accounts',
  },
  username_invalid_characters: {
    zh: '用户名不能包含不可见字符、控制字符或文字方向控制字符',
    en: 'A username must not contain invisible, control or bidirectional-control characters',
  },
  too_many_username_checks: {
    zh: '用户名冲突次数过多，请稍后再试',
    en: 'Too many attempts with usernames already taken; try again later',
  },
  client_msg_id_conflict: {
    zh: '相同的 client_msg_id 已用于内容不同的消息',
    en: 'This client_msg_id was already used for a different message',
  },
  invalid_pair: {
    zh: '会话只能在买家与商家、买家与客服、商家与客服之间建立',
    en: 'A conversation joins a buyer and a merchant, a buyer and service, or a merchant and service',
  },
  not_a_participant: { zh: '你不是该会话的参与者', en: 'You are not a participant of this conversation' },
  quick_reply_limit: { zh: '每个用户最多 10 条快捷回复', en: 'A user can have at most 10 active quick replies' },
  recall_window_passed: {
    zh: '消息发出超过 2 分钟，不能撤回',
    en: 'A message can be recalled only within 2 minutes of sending it',
  },
  content_blocked: {
    zh: '消息包含不允许发送的内容（联系方式、站外链接或敏感词），未发送',
    en: 'The message holds content that may not be sent (contact details, an off-platform link or a sensitive word); it was not sent',
  },
  webhook_limit: { zh: '最多 20 个 Webhook', en: 'At most 20 webhooks can be registered' },
  webhook_url_invalid: {
    zh: 'Webhook 地址必须是 https://（DEBUG=True 时可用 http:// 回环地址）',
    en: 'The webhook URL must be https:// (http:// to loopback only when DEBUG=True)',
  },
  webhook_url_refused: {
    zh: 'Webhook 地址指向不允许的网络（内网、链路本地或元数据地址）',
    en: 'The webhook URL points to a network it may not reach (private, link-local or metadata address)',
  },
  webhook_url_unresolvable: { zh: 'Webhook 地址的主机名无法解析', en: "The webhook URL's host name does not resolve" },
  wrong_old_password: { zh: '原密码错误', en: 'The old password is wrong' },
  old_password_required: {
    zh: '修改自己的密码需要提供原密码',
    en: 'old_password is required to change your own password',
  },
  cannot_modify_self: { zh: '不能禁用或删除自己的账号', en: 'You cannot deactivate or delete your own account' },
  role_change_not_allowed: {
    zh: '该用户已有会话，不能修改角色',
    en: 'The role of a user who already has conversations cannot change',
  },
  invalid_media_url: {
    zh: '图片或文件消息的内容必须是本服务器上传后返回的地址',
    en: 'Image and file content must be a media URL issued by this server',
  },
  media_not_an_image: {
    zh: '图片消息必须引用上传的图片（JPEG、PNG、GIF 或 WebP）',
    en: 'An image message must refer to an uploaded image (JPEG, PNG, GIF or WebP)',
  },
  text_too_long: { zh: '文本消息最多 5000 个字符', en: 'A text message has at most 5000 characters' },
  empty_content: { zh: '消息内容不能为空', en: 'Message content must not be empty' },
  invalid_card: {
    zh: '卡片内容必须是合法的 JSON 卡片（字段有长度限制，链接只能是 https）',
    en: 'Card content must be a valid card as JSON (every field is bounded; links must be https)',
  },
  order_card_platform_only: {
    zh: '订单卡片只能由平台发送',
    en: 'Only the host platform may post order cards',
  },
  card_reference_ambiguous: {
    zh: '只能指定 order_id 或 product_id 其中之一',
    en: 'Give order_id or product_id, not both',
  },
  upload_not_multipart: {
    zh: '请以 multipart/form-data 上传，文件放在 file 字段中',
    en: 'Upload as multipart/form-data, with the file in the "file" field',
  },
  upload_file_missing: { zh: '缺少上传的文件（字段 file）', en: 'No file was sent in the "file" field' },
  upload_empty_file: { zh: '上传的文件是空的', en: 'The uploaded file is empty' },
  upload_multiple_files: { zh: '每次只能上传一个文件', en: 'Upload exactly one file per request' },
  upload_too_large: { zh: '文件超过大小上限', en: 'The file is larger than the upload limit' },
  upload_too_many_parts: { zh: '上传表单的字段过多', en: 'The upload form has too many parts or fields' },
  upload_headers_too_large: { zh: '上传表单的头部过大', en: 'The headers of the upload form are too large' },
  upload_malformed: {
    zh: '上传的表单数据格式错误或不完整',
    en: 'The multipart body is malformed or incomplete',
  },
  upload_unsupported_type: {
    zh: '不支持的文件类型：仅支持 JPEG、PNG、GIF、WebP 图片和 PDF、DOC、DOCX、XLS、XLSX、TXT 文件',
    en: 'Unsupported file type: only JPEG, PNG, GIF and WebP images and PDF, DOC, DOCX, XLS, XLSX and TXT files are accepted',
  },
  upload_not_an_image: {
    zh: '这里只能上传 JPEG、PNG、GIF 或 WebP 图片',
    en: 'Only JPEG, PNG, GIF or WebP images can be uploaded here',
  },
  range_not_satisfiable: { zh: '请求的字节范围无效', en: 'The requested byte range cannot be satisfied' },
  validation_error: { zh: '请求参数校验失败', en: 'Request validation failed' },
  invalid_json: { zh: '请求体不是有效的 JSON', en: 'The request body is not valid JSON' },
  unsupported_media_type: { zh: '不支持的请求内容类型', en: 'Unsupported content type' },
  payload_too_large: { zh: '请求体过大', en: 'The request body is too large' },
  bad_request: { zh: '请求无效', en: 'Bad request' },
  uri_too_long: { zh: '请求地址过长', en: 'The request URL is too long' },
  headers_too_large: { zh: '请求头过大', en: 'The request headers are too large' },
  request_timeout: { zh: '请求超时', en: 'The request took too long to arrive' },
  too_many_connections: {
    zh: '来自该地址的连接过多，请稍后重试',
    en: 'Too many connections from this address; retry shortly',
  },
  // Quotas (src/quotas/limits.ts): 429 with Retry-After.
  too_many_list_requests: {
    zh: '同时进行的列表查询过多，请等前面的请求完成后再试',
    en: 'Too many list requests in flight; wait for the earlier ones to finish',
  },
  send_rate_limited: { zh: '发送消息过于频繁，请稍后再试', en: 'You are sending messages too fast; slow down' },
  upload_quota_exceeded: {
    zh: '一小时内上传的文件数量或大小已达上限，请稍后再试',
    en: 'Your hourly upload allowance (number of files or bytes) is used up; try again later',
  },
  too_many_sockets: {
    zh: '该用户打开的实时连接过多，请先关闭其他窗口',
    en: 'Too many open real-time connections for this user; close another tab first',
  },
  too_many_new_sockets: {
    zh: '来自该地址的新连接过于频繁，请稍后再试',
    en: 'Too many new connections from this address; try again shortly',
  },
  page_too_deep: {
    zh: '页码过深：请缩小筛选范围，或用 before_id 继续向前翻页',
    en: 'Page too deep: narrow the filters, or page further back with before_id',
  },
  search_query_too_short: {
    zh: '搜索词过短：请输入至少两个连续的汉字，或一个单词、数字',
    en: 'Search query too short: give two or more Chinese characters in a row, or a word or number',
  },
  database_unavailable: { zh: '数据库暂时不可用，请稍后重试', en: 'The database is unavailable; retry shortly' },
  service_unavailable: { zh: '服务暂时不可用，请稍后重试', en: 'The service is unavailable; retry shortly' },
  internal_error: { zh: '服务器内部错误，请稍后重试', en: 'Internal server error; please retry later' },
  internal_error_debug: { zh: '服务器内部错误', en: 'Internal server error' },
} as const satisfies Record<ErrorCode | 'internal_error_debug', { zh: string; en: string }>;

export type MessageKey = keyof typeof MESSAGES;
export type Language = 'zh' | 'en';

/** English when the client's first language preference is English, else Chinese. */
export function languageOf(acceptLanguage: string | undefined): Language {
  if (!acceptLanguage) return 'zh';
  const first = acceptLanguage
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.find((p) => p.trim().startsWith('q='));
      return { tag: tag.toLowerCase(), q: q ? Number(q.trim().slice(2)) : 1 };
    })
    .filter((entry) => entry.tag !== '' && entry.q > 0)
    .sort((a, b) => b.q - a.q)[0];
  return first?.tag.startsWith('en') ? 'en' : 'zh';
}

export function translate(key: MessageKey, language: Language): string {
  return MESSAGES[key][language];
}
