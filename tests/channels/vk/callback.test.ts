import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHARED_DIR } from '../../support/shared-dir.js';
import {
  VK_EVENT_RECEIVE_KIND,
  VkCallbackError,
  mimeFromExtension,
  parseVkCallback,
  renderVkText,
  type VkCallback,
  type VkConversationCallback,
} from '../../../channels/vk/callback.js';

/** The shared VK fixtures (`../shared/fixtures/vk` beside the repository). */
const FIXTURES = path.join(SHARED_DIR, 'fixtures', 'vk');
if (!existsSync(path.join(FIXTURES, 'message_new.text.json'))) throw new Error(`VK fixtures not found in ${FIXTURES} (set TASKWIRE_SHARED_DIR)`);

function fixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(path.join(FIXTURES!, name), 'utf8'));
}
function parseFixture(name: string, receivedAt?: Date): VkCallback {
  return parseVkCallback(fixture(name), receivedAt ? { receivedAt } : {});
}
function conversation(r: VkCallback): VkConversationCallback {
  expect(r.type).toBe('conversation');
  return r as VkConversationCallback;
}

const GROUP = 218000001;
const SECRET = 's3cr3t-fixture';

describe('parseVkCallback – fixtures', () => {
  it('confirmation', () => {
    expect(parseFixture('confirmation.json')).toEqual({ type: 'confirmation', groupId: GROUP, secret: SECRET });
    // Old docs: only type + group_id.
    expect(parseVkCallback({ type: 'confirmation', group_id: GROUP })).toEqual({ type: 'confirmation', groupId: GROUP });
  });

  it('message_new with plain Cyrillic text', () => {
    const r = conversation(parseFixture('message_new.text.json'));
    expect(r).toMatchObject({
      groupId: GROUP,
      secret: SECRET,
      eventId: '7c0cfd620111650eb57991f4557e3c44ef33ab8f',
      eventType: 'message_new',
      peerId: '512340001',
      receiveKind: 'messages',
    });
    expect(r.event).toEqual({
      type: 'inbound',
      keys: ['vk-event:7c0cfd620111650eb57991f4557e3c44ef33ab8f', 'vk-msg:218000001:2231'],
      occurredAt: new Date(1767853200 * 1000).toISOString(),
      externalId: '2231',
      text: 'Здравствуйте! Подскажите, пожалуйста, когда будет доставлен мой заказ №45821? Жду уже неделю, статус не меняется.',
      media: [],
      externalUrl: 'https://vk.com/gim218000001?sel=512340001',
    });
  });

  it('message_new with a photo (orig_photo) and a PDF document', () => {
    const body = fixture('message_new.photo_doc.json');
    const r = conversation(parseVkCallback(body));
    expect(r.peerId).toBe('512340002');
    if (r.event.type !== 'inbound') throw new Error('expected inbound');
    expect(r.event.keys).toEqual(['vk-event:5f6c66863d29b36647bf1ad83bd9c90f3eec2738', 'vk-msg:218000001:2234']);
    expect(r.event.occurredAt).toBe(new Date(1767853682 * 1000).toISOString());
    expect(r.event.text).toBe('Прикладываю фото повреждённой коробки и накладную.');
    const photo = body.object.message.attachments[0].photo;
    const doc = body.object.message.attachments[1].doc;
    expect(r.event.media).toEqual([
      { kind: 'image', url: photo.orig_photo.url, filename: 'photo512340002_457239101.jpg', mimeType: 'image/jpeg' },
      { kind: 'document', url: doc.url, filename: 'Накладная_45821.pdf', mimeType: 'application/pdf' },
    ]);
  });

  it('without orig_photo the largest size by area wins (not the last one)', () => {
    const body = fixture('message_new.photo_doc.json');
    const photo = body.object.message.attachments[0].photo;
    delete photo.orig_photo;
    const r = conversation(parseVkCallback(body));
    const wSize = photo.sizes.find((s: { type: string }) => s.type === 'w');
    expect(r.event.type === 'inbound' && r.event.media[0]?.url).toBe(wSize.url);
  });

  it('message_new with emoji and a forwarded message', () => {
    const r = conversation(parseFixture('message_new.emoji_forward.json'));
    expect(r.peerId).toBe('512340003');
    if (r.event.type !== 'inbound') throw new Error('expected inbound');
    expect(r.event.keys).toEqual(['vk-event:538419db1238115bf0496c38de82d86cadbe3280', 'vk-msg:218000001:2237']);
    expect(r.event.externalId).toBe('2237');
    expect(r.event.media).toEqual([]);
    expect(r.event.text).toBe(
      'Спасибо большое! 😊👍 Вот что мне написал курьер 👇🏻 Это нормально? 🤔\n\n' +
        'Forwarded message from id512349977 (2026-01-07 06:20 UTC):\n' +
        '> Добрый день! Доставку перенесли на пятницу, извините за задержку 🙏',
    );
  });

  it('message_reply: observed outgoing with random_id as sendKey and the admin as sender', () => {
    const r = conversation(parseFixture('message_reply.json'));
    expect(r.peerId).toBe('512340001');
    expect(r.eventType).toBe('message_reply');
    expect(r.event).toEqual({
      type: 'observed_outgoing',
      keys: ['vk-event:75245794599265adb09a4e6b82f20d15a9375030', 'vk-msg:218000001:2239'],
      occurredAt: new Date(1767854700 * 1000).toISOString(),
      externalId: '2239',
      sendKey: '1418522903',
      text: 'Анна, добрый день! Заказ №45821 передан в службу доставки, курьер приедет завтра с 10:00 до 14:00.',
      media: [],
      senderRef: '300100200',
    });
  });

  it('message_reply without random_id / admin has no sendKey / senderRef', () => {
    const body = fixture('message_reply.json');
    body.object.random_id = 0;
    delete body.object.admin_author_id;
    const r = conversation(parseVkCallback(body));
    expect(r.event).not.toHaveProperty('sendKey');
    expect(r.event).not.toHaveProperty('senderRef');
  });

  it('message_edit: inbound edit keyed by update_time', () => {
    const r = conversation(parseFixture('message_edit.json'));
    expect(r.peerId).toBe('512340001');
    expect(r.event).toEqual({
      type: 'inbound_edit',
      keys: ['vk-event:57764825eaba7af6537975b2201f83170371d18d', 'vk-edit:218000001:2231:1767854820'],
      occurredAt: new Date(1767854820 * 1000).toISOString(),
      externalId: '2231',
      text: 'Здравствуйте! Подскажите, пожалуйста, когда будет доставлен мой заказ №45812? Жду уже неделю, статус не меняется.',
      media: [],
      editedAt: new Date(1767854820 * 1000).toISOString(),
    });
  });

  it('message_allow / message_deny: permission events for user_id', () => {
    const at = new Date('2026-01-08T10:00:00.000Z');
    const allow = conversation(parseFixture('message_allow.json', at));
    expect(allow.peerId).toBe('512340010');
    expect(allow.event).toEqual({
      type: 'permission',
      keys: ['vk-event:e5c1285d921f02a8a2f755266e51242caa603089'],
      occurredAt: at.toISOString(),
      allowed: true,
    });
    const deny = conversation(parseFixture('message_deny.json', at));
    expect(deny.peerId).toBe('512340010');
    expect(deny.event).toEqual({
      type: 'permission',
      keys: ['vk-event:970a5a85b8094a178c2de5b0c8a86295d580b36b'],
      occurredAt: at.toISOString(),
      allowed: false,
    });
  });

  it.each([
    ['wall_reply_new.json', 'wallComments'],
    ['wall_reply_new.reply_to_comment.json', 'wallComments'],
    ['wall_reply_edit.json', 'wallComments'],
    ['wall_reply_delete.json', 'wallComments'],
    ['photo_comment_new.json', 'photoComments'],
    ['video_comment_new.json', 'videoComments'],
    ['board_post_new.json', 'boardComments'],
    ['lead_forms_new.json', 'leadForms'],
  ])('publication / lead fixture %s is ignored for now', (name, receiveKind) => {
    const body = fixture(name);
    expect(parseVkCallback(body)).toEqual({
      type: 'ignored',
      groupId: GROUP,
      secret: SECRET,
      eventId: body.event_id,
      eventType: body.type,
      reason: 'not_implemented',
      receiveKind,
    });
  });

  it('every fixture file parses without throwing', () => {
    const names = readdirSync(FIXTURES!).filter((n) => n.endsWith('.json'));
    expect(names.length).toBeGreaterThanOrEqual(16);
    for (const n of names) expect(() => parseFixture(n), n).not.toThrow();
  });
});

describe('parseVkCallback – routing rules', () => {
  const base = () => fixture('message_new.text.json');

  it('group chats are ignored (message_new, message_reply, message_edit)', () => {
    const body = base();
    body.object.message.peer_id = 2000000004;
    body.object.message.id = 0;
    expect(parseVkCallback(body)).toMatchObject({ type: 'ignored', reason: 'group_chat', eventType: 'message_new' });
    const reply = fixture('message_reply.json');
    reply.object.peer_id = 2000000001;
    expect(parseVkCallback(reply)).toMatchObject({ type: 'ignored', reason: 'group_chat' });
    const edit = fixture('message_edit.json');
    edit.object.peer_id = 2000000001;
    expect(parseVkCallback(edit)).toMatchObject({ type: 'ignored', reason: 'group_chat' });
  });

  it('the community editing its own message is not a customer edit', () => {
    const edit = fixture('message_edit.json');
    edit.object.out = 1;
    edit.object.from_id = -GROUP;
    expect(parseVkCallback(edit)).toMatchObject({ type: 'ignored', reason: 'own_message_edit' });
  });

  it('unknown event types are ignored, never rejected (with or without object / event_id)', () => {
    expect(parseVkCallback({ type: 'group_join', group_id: GROUP, event_id: 'e1', object: { user_id: 1, join_type: 'join' } })).toEqual({
      type: 'ignored',
      groupId: GROUP,
      eventId: 'e1',
      eventType: 'group_join',
      reason: 'unsupported_type',
    });
    expect(parseVkCallback({ type: 'something_new_2030', group_id: GROUP })).toMatchObject({ type: 'ignored', reason: 'unsupported_type' });
    expect(parseVkCallback({ type: 'message_typing_state', group_id: GROUP, event_id: 'e2', object: {} })).toMatchObject({
      type: 'ignored',
      reason: 'unsupported_type',
    });
  });

  it('unknown extra fields are ignored', () => {
    const body = base();
    body.brand_new_field = { x: 1 };
    body.object.message.some_future_flag = true;
    body.object.message.attachments = [{ type: 'hologram', hologram: { id: 1 } }];
    const r = conversation(parseVkCallback(body));
    expect(r.event.type === 'inbound' && r.event.text.endsWith('\n[hologram]')).toBe(true);
  });

  it('message_new with out=1 is treated as an observed outgoing message (same message key)', () => {
    const body = base();
    body.object.message.out = 1;
    body.object.message.random_id = 77;
    const r = conversation(parseVkCallback(body));
    expect(r.event).toMatchObject({ type: 'observed_outgoing', sendKey: '77', keys: [expect.any(String), 'vk-msg:218000001:2231'] });
  });

  it('string group_id with digits is accepted', () => {
    const body = base();
    body.group_id = '218000001';
    expect(parseVkCallback(body)).toMatchObject({ type: 'conversation', groupId: GROUP });
  });
});

describe('parseVkCallback – attachments and quotes', () => {
  function withMessage(patch: Record<string, unknown>): VkConversationCallback {
    const body = fixture('message_new.text.json');
    Object.assign(body.object.message, patch);
    return conversation(parseVkCallback(body));
  }
  function inbound(r: VkConversationCallback) {
    if (r.event.type !== 'inbound') throw new Error('expected inbound');
    return r.event;
  }

  it('voice message: mp3 preferred, ogg otherwise', () => {
    const am = { id: 670002002, owner_id: 512340001, duration: 9, waveform: [1, 2], link_ogg: 'https://psv4.userapi.com/a.ogg', link_mp3: 'https://psv4.userapi.com/a.mp3' };
    const e = inbound(withMessage({ text: '', attachments: [{ type: 'audio_message', audio_message: am }] }));
    expect(e.text).toBe('');
    expect(e.media).toEqual([{ kind: 'voice', url: 'https://psv4.userapi.com/a.mp3', filename: 'voice-670002002.mp3', mimeType: 'audio/mpeg' }]);
    const e2 = inbound(withMessage({ text: '', attachments: [{ type: 'audio_message', audio_message: { ...am, link_mp3: undefined } }] }));
    expect(e2.media).toEqual([{ kind: 'voice', url: 'https://psv4.userapi.com/a.ogg', filename: 'voice-670002002.ogg', mimeType: 'audio/ogg' }]);
  });

  it('sticker: largest image', () => {
    const sticker = {
      product_id: 279,
      sticker_id: 9012,
      images: [
        { url: 'https://vk.com/sticker/1-9012-64', width: 64, height: 64 },
        { url: 'https://vk.com/sticker/1-9012-512', width: 512, height: 512 },
        { url: 'https://vk.com/sticker/1-9012-128', width: 128, height: 128 },
      ],
      images_with_background: [{ url: 'https://vk.com/sticker/1-9012-512b', width: 512, height: 512 }],
    };
    const e = inbound(withMessage({ text: '', attachments: [{ type: 'sticker', sticker }] }));
    expect(e.media).toEqual([{ kind: 'sticker', url: 'https://vk.com/sticker/1-9012-512', filename: 'sticker-9012.png', mimeType: 'image/png' }]);
  });

  it('video: link only; link and wall: URL appended to the text', () => {
    const e = inbound(
      withMessage({
        text: 'Смотрите',
        attachments: [
          { type: 'video', video: { id: 456239045, owner_id: -218000001, title: 'Механизм дивана', duration: 30 } },
          { type: 'link', link: { url: 'https://example.ru/order/45821', title: 'Заказ' } },
          { type: 'wall', wall: { id: 1542, to_id: -218000001, from_id: -218000001, text: 'пост' } },
          { type: 'wall', wall: { id: 17, owner_id: -218000001, text: 'старый формат' } },
          { type: 'poll', poll: { id: 5, question: '?' } },
        ],
      }),
    );
    expect(e.media).toEqual([
      { kind: 'video', url: 'https://vk.com/video-218000001_456239045', linkOnly: true, filename: 'Механизм дивана' },
    ]);
    expect(e.text).toBe('Смотрите\nhttps://example.ru/order/45821\nhttps://vk.com/wall-218000001_1542\nhttps://vk.com/wall-218000001_17\n[poll]');
  });

  it('doc: title without extension gets one, mime from the extension', () => {
    const e = inbound(
      withMessage({
        attachments: [{ type: 'doc', doc: { id: 1, owner_id: 2, title: 'scan', ext: 'DOCX', url: 'https://vk.com/doc2_1?x', type: 1 } }],
      }),
    );
    expect(e.media).toEqual([
      {
        kind: 'document',
        url: 'https://vk.com/doc2_1?x',
        filename: 'scan.docx',
        mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      },
    ]);
  });

  it('photo sizes with zero dimensions fall back to the last size; float strings are read', () => {
    const e = inbound(
      withMessage({
        attachments: [
          { type: 'photo', photo: { id: 1, owner_id: 2, sizes: [{ type: 's', url: 'https://a/s', width: 0, height: 0 }, { type: 'x', url: 'https://a/x', width: 0, height: 0 }] } },
          { type: 'photo', photo: { id: 3, owner_id: 2, sizes: [{ type: 'x', url: 'https://b/x', width: '604.000000', height: '453.000000' }, { type: 's', url: 'https://b/s', width: 75, height: 56 }] } },
        ],
      }),
    );
    expect(e.media.map((m) => m.url)).toEqual(['https://a/x', 'https://b/x']);
  });

  it('reply_message: quoted after the text, its id as replyToExternalId, its files only named', () => {
    const e = inbound(
      withMessage({
        text: 'Да, именно этот',
        reply_message: {
          id: 2239,
          date: 1767854700,
          from_id: -218000001,
          text: 'Курьер приедет завтра.\nС 10:00 до 14:00.',
          conversation_message_id: 2,
          attachments: [{ type: 'doc', doc: { id: 9, owner_id: -218000001, title: 'a.pdf', ext: 'pdf', url: 'https://vk.com/doc-218000001_9' } }],
        },
      }),
    );
    expect(e.replyToExternalId).toBe('2239');
    expect(e.media).toEqual([]);
    expect(e.text).toBe(
      'Да, именно этот\n\nIn reply to message from club218000001 (2026-01-08 06:45 UTC):\n> Курьер приедет завтра.\n> С 10:00 до 14:00.\n> [document: a.pdf]',
    );
  });

  it('nested forwards are quoted twice and their files attached', () => {
    const photo = { id: 5, owner_id: 512349977, sizes: [{ type: 'x', url: 'https://sun9/x.jpg', width: 604, height: 453 }] };
    const e = inbound(
      withMessage({
        text: '',
        fwd_messages: [
          {
            date: 1767766800,
            from_id: 512349977,
            text: 'Смотрите ниже',
            fwd_messages: [{ date: 1767766000, from_id: 512340003, text: 'Где заказ?', attachments: [{ type: 'photo', photo }] }],
          },
        ],
      }),
    );
    expect(e.media).toEqual([{ kind: 'image', url: 'https://sun9/x.jpg', filename: 'photo512349977_5.jpg', mimeType: 'image/jpeg' }]);
    expect(e.text).toBe(
      'Forwarded message from id512349977 (2026-01-07 06:20 UTC):\n> Смотрите ниже\n>\n> Forwarded message from id512340003 (2026-01-07 06:06 UTC):\n> > Где заказ?',
    );
  });

  it('mention markup is rendered as the name', () => {
    expect(renderVkText('[id512340004|Сергей], привет от [club218000001|Магазина]')).toBe('Сергей, привет от Магазина');
  });

  it('mimeFromExtension', () => {
    expect(mimeFromExtension('pdf')).toBe('application/pdf');
    expect(mimeFromExtension('.JPG')).toBe('image/jpeg');
    expect(mimeFromExtension('xyz')).toBe('application/octet-stream');
  });
});

describe('parseVkCallback – malformed bodies', () => {
  const cases: Array<[string, unknown, string]> = [
    ['not an object', 'ok', 'body'],
    ['null', null, 'body'],
    ['an array', [1, 2], 'body'],
    ['missing group_id', { type: 'message_new', event_id: 'e', object: {} }, 'group_id'],
    ['non-numeric group_id', { type: 'confirmation', group_id: 'abc' }, 'group_id'],
    ['negative group_id', { type: 'confirmation', group_id: -218000001 }, 'group_id'],
    ['missing type', { group_id: GROUP, event_id: 'e', object: {} }, 'type'],
    ['non-string secret', { type: 'confirmation', group_id: GROUP, secret: 5 }, 'secret'],
    ['message_new without object', { type: 'message_new', group_id: GROUP, event_id: 'e' }, 'object'],
    ['message_new without object.message', { type: 'message_new', group_id: GROUP, event_id: 'e', object: {} }, 'object.message'],
    ['message_new without event_id', { type: 'message_new', group_id: GROUP, object: { message: {} } }, 'event_id'],
    [
      'message_new with a non-numeric peer_id',
      { type: 'message_new', group_id: GROUP, event_id: 'e', object: { message: { id: 1, date: 1, from_id: 1, peer_id: 'x', text: '' } } },
      'object.message.peer_id',
    ],
    ['message_reply without id', { type: 'message_reply', group_id: GROUP, event_id: 'e', object: { date: 1, peer_id: 1, from_id: -1 } }, 'object.id'],
    ['message_allow without user_id', { type: 'message_allow', group_id: GROUP, event_id: 'e', object: { key: '' } }, 'object.user_id'],
  ];
  it.each(cases)('%s → VkCallbackError naming %s', (_name, body, field) => {
    let error: unknown;
    try {
      parseVkCallback(body);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VkCallbackError);
    expect((error as VkCallbackError).field).toBe(field);
    expect((error as VkCallbackError).message).toContain(field);
  });
});

describe('VK_EVENT_RECEIVE_KIND', () => {
  it('maps event types onto the channel settings switches', () => {
    for (const t of ['message_new', 'message_reply', 'message_edit', 'message_allow', 'message_deny']) expect(VK_EVENT_RECEIVE_KIND[t]).toBe('messages');
    expect(VK_EVENT_RECEIVE_KIND.wall_reply_new).toBe('wallComments');
    expect(VK_EVENT_RECEIVE_KIND.photo_comment_new).toBe('photoComments');
    expect(VK_EVENT_RECEIVE_KIND.video_comment_new).toBe('videoComments');
    expect(VK_EVENT_RECEIVE_KIND.board_post_new).toBe('boardComments');
    expect(VK_EVENT_RECEIVE_KIND.lead_forms_new).toBe('leadForms');
    expect(VK_EVENT_RECEIVE_KIND.group_join).toBeUndefined();
  });
});
