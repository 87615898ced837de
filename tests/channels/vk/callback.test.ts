import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturePath } from '../../support/fixtures.js';
import {
  VK_EVENT_RECEIVE_KIND,
  VkCallbackError,
  mimeFromExtension,
  parseVkCallback,
  renderVkText,
  vkCommentUrl,
  vkPublicationUrl,
  type VkCallback,
  type VkConversationCallback,
  type VkLeadCallback,
  type VkPublicationCallback,
} from '../../../channels/vk/callback.js';

/** The VK Callback fixtures (tests/fixtures/vk). */
const FIXTURES = fixturePath('vk');
if (!existsSync(path.join(FIXTURES, 'message_new.text.json'))) throw new Error(`VK fixtures not found in ${FIXTURES}`);

function fixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));
}
function parseFixture(name: string, receivedAt?: Date): VkCallback {
  return parseVkCallback(fixture(name), receivedAt ? { receivedAt } : {});
}
function conversation(r: VkCallback): VkConversationCallback {
  expect(r.type).toBe('conversation');
  return r as VkConversationCallback;
}
function publication(r: VkCallback): VkPublicationCallback {
  expect(r.type).toBe('publication');
  return r as VkPublicationCallback;
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

  it('every fixture file parses without throwing', () => {
    const names = readdirSync(FIXTURES).filter((n) => n.endsWith('.json'));
    expect(names.length).toBeGreaterThanOrEqual(16);
    for (const n of names) expect(() => parseFixture(n), n).not.toThrow();
  });
});

const OWNER = -GROUP;
const AT = new Date('2026-01-08T12:00:00.000Z');
const iso = (unix: number) => new Date(unix * 1000).toISOString();

describe('parseVkCallback – publication comment fixtures', () => {
  it('wall_reply_new: a top-level comment under post 1542', () => {
    const r = publication(parseFixture('wall_reply_new.json'));
    expect(r).toEqual({
      type: 'publication',
      groupId: GROUP,
      secret: SECRET,
      eventId: 'c07b01900d6bd3385968251fb6507488dacb6459',
      eventType: 'wall_reply_new',
      publication: { kind: 'wall', ownerId: OWNER, itemId: 1542 },
      receiveKind: 'wallComments',
      event: {
        type: 'publication_comment',
        action: 'new',
        keys: ['vk-event:c07b01900d6bd3385968251fb6507488dacb6459', 'vk-pub:218000001:wall:-218000001_1542:3310:new'],
        occurredAt: iso(1767856800),
        commentId: '3310',
        fromId: '512340004',
        text: 'Сколько стоит доставка в Казань и сколько дней идёт?',
        media: [],
        externalUrl: 'https://vk.com/wall-218000001_1542?reply=3310',
      },
    });
  });

  it('wall_reply_new answering a comment: replyToCommentId, mention rendered, thread link', () => {
    const r = publication(parseFixture('wall_reply_new.reply_to_comment.json'));
    expect(r.publication).toEqual({ kind: 'wall', ownerId: OWNER, itemId: 1542 });
    expect(r.event).toEqual({
      type: 'publication_comment',
      action: 'new',
      keys: ['vk-event:feea725606ac82a434dd7dc9215072aa6ec489d6', 'vk-pub:218000001:wall:-218000001_1542:3312:new'],
      occurredAt: iso(1767857400),
      commentId: '3312',
      fromId: '512340005',
      text: 'Сергей, нам в Казань привезли за 3 дня, доставка была 350 ₽',
      media: [],
      replyToCommentId: '3310',
      externalUrl: 'https://vk.com/wall-218000001_1542?reply=3312&thread=3310',
    });
  });

  it('wall_reply_edit: action edit; the key carries date and content, so a second edit is not a duplicate', () => {
    const body = fixture('wall_reply_edit.json');
    const r = publication(parseVkCallback(body));
    expect(r.eventType).toBe('wall_reply_edit');
    expect(r.receiveKind).toBe('wallComments');
    expect(r.publication).toEqual({ kind: 'wall', ownerId: OWNER, itemId: 1542 });
    expect(r.event).toMatchObject({
      type: 'publication_comment',
      action: 'edit',
      commentId: '3310',
      fromId: '512340004',
      text: 'Сколько стоит доставка в Казань и сколько дней идёт? Нужно к 20 января.',
      media: [],
      occurredAt: iso(1767856800),
      externalUrl: 'https://vk.com/wall-218000001_1542?reply=3310',
    });
    expect(r.event.keys[0]).toBe('vk-event:c9c1d06e1a21fbeba0020f2963efd1c5ed194443');
    expect(r.event.keys[1]).toMatch(/^vk-pub:218000001:wall:-218000001_1542:3310:edit:1767856800:[0-9a-f]{8}$/);
    expect(r.event).not.toHaveProperty('replyToCommentId');

    // The same edit delivered again (new event id) has the same logical key; a different edit does not.
    const again = publication(parseVkCallback({ ...body, event_id: 'other' }));
    expect(again.event.keys[1]).toBe(r.event.keys[1]);
    const second = publication(parseVkCallback({ ...body, event_id: 'e2', object: { ...body.object, text: 'Уже не нужно' } }));
    expect(second.event.keys[1]).not.toBe(r.event.keys[1]);
  });

  it('wall_reply_delete: deleter as fromId, no text, receipt time, logical delete key', () => {
    const r = publication(parseFixture('wall_reply_delete.json', AT));
    expect(r).toMatchObject({ eventType: 'wall_reply_delete', receiveKind: 'wallComments', publication: { kind: 'wall', ownerId: OWNER, itemId: 1542 } });
    expect(r.event).toEqual({
      type: 'publication_comment',
      action: 'delete',
      keys: ['vk-event:07f403161258d74f40dd25ca150faf6842238662', 'vk-pub:218000001:wall:-218000001_1542:3312:delete'],
      occurredAt: AT.toISOString(),
      commentId: '3312',
      fromId: '512340005',
      text: '',
      media: [],
      externalUrl: 'https://vk.com/wall-218000001_1542?reply=3312',
    });
  });

  it('photo_comment_new', () => {
    const r = publication(parseFixture('photo_comment_new.json'));
    expect(r).toMatchObject({
      eventId: '290b1b7b4441a69a3a1d8194652b64927e72e0bb',
      eventType: 'photo_comment_new',
      receiveKind: 'photoComments',
      publication: { kind: 'photo', ownerId: OWNER, itemId: 457240321 },
    });
    expect(r.event).toEqual({
      type: 'publication_comment',
      action: 'new',
      keys: ['vk-event:290b1b7b4441a69a3a1d8194652b64927e72e0bb', 'vk-pub:218000001:photo:-218000001_457240321:871:new'],
      occurredAt: iso(1767858600),
      commentId: '871',
      fromId: '512340006',
      text: 'А этот диван есть в сером цвете?',
      media: [],
      externalUrl: 'https://vk.com/photo-218000001_457240321',
    });
  });

  it('video_comment_new', () => {
    const r = publication(parseFixture('video_comment_new.json'));
    expect(r).toMatchObject({
      eventType: 'video_comment_new',
      receiveKind: 'videoComments',
      publication: { kind: 'video', ownerId: OWNER, itemId: 456239045 },
    });
    expect(r.event).toEqual({
      type: 'publication_comment',
      action: 'new',
      keys: ['vk-event:45aef409e5c480aa43d6af3eb5569c1ab9cf6d1d', 'vk-pub:218000001:video:-218000001_456239045:214:new'],
      occurredAt: iso(1767859200),
      commentId: '214',
      fromId: '512340007',
      text: 'Покажите, пожалуйста, как раскладывается механизм, в видео не видно.',
      media: [],
      externalUrl: 'https://vk.com/video-218000001_456239045',
    });
  });

  it('board_post_new: a topic publication, link to the post in the topic', () => {
    const r = publication(parseFixture('board_post_new.json'));
    expect(r).toMatchObject({
      eventType: 'board_post_new',
      receiveKind: 'boardComments',
      publication: { kind: 'topic', ownerId: OWNER, itemId: 49876543 },
    });
    expect(r.event).toEqual({
      type: 'publication_comment',
      action: 'new',
      keys: ['vk-event:776055ed04e028f9c93e328f5a825bd9b425e101', 'vk-pub:218000001:topic:-218000001_49876543:38:new'],
      occurredAt: iso(1767860400),
      commentId: '38',
      fromId: '512340008',
      text: 'Добрый вечер. Оформил возврат 5 января, деньги до сих пор не пришли. Номер возврата R-1187.',
      media: [],
      externalUrl: 'https://vk.com/topic-218000001_49876543?post=38',
    });
  });

  it('lead_forms_new: the lead with its answers, received time as occurredAt', () => {
    const r = parseFixture('lead_forms_new.json', AT);
    expect(r).toEqual({
      type: 'lead',
      groupId: GROUP,
      secret: SECRET,
      eventId: '7100eaee8000247949ba313ce649c6c73bfccfbb',
      eventType: 'lead_forms_new',
      receiveKind: 'leadForms',
      lead: {
        leadId: '27',
        formId: '4',
        formName: 'Заявка на консультацию',
        userId: '512340009',
        answers: [
          { key: 'first_name', question: 'Имя', answer: 'Наталья' },
          { key: 'phone_number', question: 'Номер телефона', answer: '+7 916 123-45-67' },
          { key: 'email', question: 'Электронная почта', answer: 'natalia.k@example.ru' },
          { key: 'custom_0', question: 'Удобное время для звонка', answer: 'Будни после 18:00' },
        ],
        occurredAt: AT.toISOString(),
      },
    } satisfies VkLeadCallback);
  });
});

describe('parseVkCallback – publication comment rules', () => {
  it("the community's own comment (negative from_id) is routed with its negative fromId", () => {
    const body = fixture('wall_reply_new.json');
    Object.assign(body.object, { id: 3315, from_id: -GROUP, reply_to_comment: 3310, parents_stack: [3310], text: 'Сергей, доставка 350 ₽' });
    const r = publication(parseVkCallback(body));
    expect(r.event).toMatchObject({
      action: 'new',
      fromId: '-218000001',
      commentId: '3315',
      replyToCommentId: '3310',
      externalUrl: 'https://vk.com/wall-218000001_1542?reply=3315&thread=3310',
    });
  });

  it('owner ids are made negative whatever their sign; post_owner_id stands in for owner_id', () => {
    const photo = fixture('photo_comment_new.json');
    photo.object.photo_owner_id = GROUP;
    expect(publication(parseVkCallback(photo)).publication).toEqual({ kind: 'photo', ownerId: OWNER, itemId: 457240321 });
    const board = fixture('board_post_new.json');
    board.object.topic_owner_id = GROUP;
    const b = publication(parseVkCallback(board));
    expect(b.publication.ownerId).toBe(OWNER);
    expect(b.event.externalUrl).toBe('https://vk.com/topic-218000001_49876543?post=38');
    const wall = fixture('wall_reply_new.json');
    delete wall.object.owner_id;
    expect(publication(parseVkCallback(wall)).publication.ownerId).toBe(OWNER);
  });

  it('edit / delete / restore of every kind', () => {
    const types = ['wall_reply', 'photo_comment', 'video_comment', 'board_post'];
    const location: Record<string, Record<string, number>> = {
      wall_reply: { post_id: 1542, owner_id: OWNER, post_owner_id: OWNER },
      photo_comment: { photo_id: 457240321, photo_owner_id: OWNER },
      video_comment: { video_id: 456239045, video_owner_id: OWNER },
      board_post: { topic_id: 49876543, topic_owner_id: OWNER },
    };
    for (const t of types) {
      for (const action of ['new', 'edit', 'restore'] as const) {
        const r = publication(
          parseVkCallback({
            type: `${t}_${action}`,
            group_id: GROUP,
            event_id: `${t}-${action}`,
            object: { id: 5, from_id: 512340004, date: 1767900000, text: 'x', ...location[t] },
          }),
        );
        expect(r.event.action).toBe(action);
        expect(r.event.occurredAt).toBe(iso(1767900000));
        const k = r.event.keys[1]!;
        if (action === 'new') expect(k).toMatch(/:5:new$/);
        if (action === 'restore') expect(k).toMatch(/:5:restore:1767900000$/);
        if (action === 'edit') expect(k).toMatch(/:5:edit:1767900000:[0-9a-f]{8}$/);
      }
    }
    // Delete bodies: no text, `owner_id` for photos/videos, deleter_id ?? user_id ?? ''.
    const photoDel = publication(
      parseVkCallback({ type: 'photo_comment_delete', group_id: GROUP, event_id: 'pd', object: { owner_id: OWNER, id: 871, user_id: 512340006, deleter_id: 300100200, photo_id: 457240321 } }, { receivedAt: AT }),
    );
    expect(photoDel.publication).toEqual({ kind: 'photo', ownerId: OWNER, itemId: 457240321 });
    expect(photoDel.event).toMatchObject({ action: 'delete', commentId: '871', fromId: '300100200', text: '', media: [], occurredAt: AT.toISOString() });
    expect(photoDel.event.keys).toEqual(['vk-event:pd', 'vk-pub:218000001:photo:-218000001_457240321:871:delete']);
    const videoDel = publication(parseVkCallback({ type: 'video_comment_delete', group_id: GROUP, event_id: 'vd', object: { owner_id: OWNER, id: 214, user_id: 512340007, video_id: 456239045 } }));
    expect(videoDel.event.fromId).toBe('512340007');
    const wallDel = publication(parseVkCallback({ type: 'wall_reply_delete', group_id: GROUP, event_id: 'wd', object: { owner_id: OWNER, id: 3312, user_id: 512340005, post_id: 1542 } }));
    expect(wallDel.event.fromId).toBe('512340005'); // schema spelling (user_id) also read
    const boardDel = publication(parseVkCallback({ type: 'board_post_delete', group_id: GROUP, event_id: 'bd', object: { topic_owner_id: OWNER, topic_id: 49876543, id: 38 } }));
    expect(boardDel).toMatchObject({ receiveKind: 'boardComments', publication: { kind: 'topic', ownerId: OWNER, itemId: 49876543 } });
    expect(boardDel.event).toMatchObject({ action: 'delete', commentId: '38', fromId: '', externalUrl: 'https://vk.com/topic-218000001_49876543?post=38' });
  });

  it('comment attachments become media like message attachments; links go to the text', () => {
    const body = fixture('wall_reply_new.json');
    body.object.text = 'Вот фото [club218000001|Магазин]';
    body.object.attachments = [
      { type: 'photo', photo: { id: 9, owner_id: 512340004, sizes: [{ type: 'x', url: 'https://sun9/x.jpg', width: 604, height: 453 }] } },
      { type: 'doc', doc: { id: 10, owner_id: 512340004, title: 'чек', ext: 'pdf', url: 'https://vk.com/doc512340004_10', type: 1 } },
      { type: 'video', video: { id: 11, owner_id: 512340004, title: 'Ролик' } },
      { type: 'link', link: { url: 'https://example.ru/x' } },
      { type: 'note', note: { id: 1 } },
    ];
    const r = publication(parseVkCallback(body));
    expect(r.event.text).toBe('Вот фото Магазин\nhttps://example.ru/x\n[note]');
    expect(r.event.media).toEqual([
      { kind: 'image', url: 'https://sun9/x.jpg', filename: 'photo512340004_9.jpg', mimeType: 'image/jpeg' },
      { kind: 'document', url: 'https://vk.com/doc512340004_10', filename: 'чек.pdf', mimeType: 'application/pdf' },
      { kind: 'video', url: 'https://vk.com/video512340004_11', linkOnly: true, filename: 'Ролик' },
    ]);
  });

  it('lead answers of other shapes are flattened; answers without key and question are skipped', () => {
    const body = fixture('lead_forms_new.json');
    body.object.answers = [
      { key: 'custom_1', question: 'Какие товары?', answer: ['Диван', 'Кресло'] },
      { key: 'custom_2', question: 'Бюджет', answer: { key: 'b', value: 'до 50 000' } },
      { key: 'age', question: 'Возраст', answer: 34 },
      { answer: 'без вопроса' },
      'garbage',
    ];
    body.object.lead_id = '28';
    delete body.object.form_name;
    const r = parseVkCallback(body) as VkLeadCallback;
    expect(r.type).toBe('lead');
    expect(r.lead).toMatchObject({ leadId: '28', formName: '' });
    expect(r.lead.answers).toEqual([
      { key: 'custom_1', question: 'Какие товары?', answer: 'Диван, Кресло' },
      { key: 'custom_2', question: 'Бюджет', answer: 'до 50 000' },
      { key: 'age', question: 'Возраст', answer: '34' },
    ]);
  });

  it('every event type with a receive switch is routed, none is ignored', () => {
    const objects: Record<string, Record<string, unknown>> = {
      wallComments: { id: 1, from_id: 2, date: 3, post_id: 4, owner_id: OWNER, deleter_id: 2 },
      photoComments: { id: 1, from_id: 2, date: 3, photo_id: 4, photo_owner_id: OWNER },
      videoComments: { id: 1, from_id: 2, date: 3, video_id: 4, video_owner_id: OWNER },
      boardComments: { id: 1, from_id: 2, date: 3, topic_id: 4, topic_owner_id: OWNER },
      leadForms: { lead_id: 1, user_id: 2, form_id: 3, form_name: 'f', answers: [] },
    };
    for (const [type, kind] of Object.entries(VK_EVENT_RECEIVE_KIND)) {
      if (kind === 'messages') continue;
      const r = parseVkCallback({ type, group_id: GROUP, event_id: type, object: objects[kind] });
      expect(r.type, type).toBe(kind === 'leadForms' ? 'lead' : 'publication');
      expect((r as VkPublicationCallback | VkLeadCallback).receiveKind, type).toBe(kind);
    }
  });

  it('market comments stay unsupported', () => {
    expect(parseVkCallback({ type: 'market_comment_new', group_id: GROUP, event_id: 'm', object: { id: 1 } })).toMatchObject({
      type: 'ignored',
      reason: 'unsupported_type',
    });
  });

  it('link helpers (§9)', () => {
    expect(vkPublicationUrl({ kind: 'wall', ownerId: OWNER, itemId: 1542 })).toBe('https://vk.com/wall-218000001_1542');
    expect(vkPublicationUrl({ kind: 'topic', ownerId: OWNER, itemId: 49876543 })).toBe('https://vk.com/topic-218000001_49876543');
    expect(vkCommentUrl({ kind: 'wall', ownerId: OWNER, itemId: 1542 }, '3312', '3310')).toBe('https://vk.com/wall-218000001_1542?reply=3312&thread=3310');
    expect(vkCommentUrl({ kind: 'wall', ownerId: OWNER, itemId: 1542 }, '3310', '3310')).toBe('https://vk.com/wall-218000001_1542?reply=3310');
    expect(vkCommentUrl({ kind: 'photo', ownerId: OWNER, itemId: 457240321 }, '871')).toBe('https://vk.com/photo-218000001_457240321');
    expect(vkCommentUrl({ kind: 'video', ownerId: OWNER, itemId: 456239045 }, '214')).toBe('https://vk.com/video-218000001_456239045');
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
    expect(mimeFromExtension('notatype')).toBe('application/octet-stream');
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
    ['wall_reply_new without object', { type: 'wall_reply_new', group_id: GROUP, event_id: 'e' }, 'object'],
    ['wall_reply_new without event_id', { type: 'wall_reply_new', group_id: GROUP, object: { id: 1, from_id: 2, date: 3, post_id: 4 } }, 'event_id'],
    ['wall_reply_new without post_id', { type: 'wall_reply_new', group_id: GROUP, event_id: 'e', object: { id: 1, from_id: 2, date: 3, owner_id: -GROUP } }, 'object.post_id'],
    ['wall_reply_new without from_id', { type: 'wall_reply_new', group_id: GROUP, event_id: 'e', object: { id: 1, date: 3, post_id: 4, owner_id: -GROUP } }, 'object.from_id'],
    ['wall_reply_edit without date', { type: 'wall_reply_edit', group_id: GROUP, event_id: 'e', object: { id: 1, from_id: 2, post_id: 4 } }, 'object.date'],
    ['photo_comment_new with a string photo_id', { type: 'photo_comment_new', group_id: GROUP, event_id: 'e', object: { id: 1, from_id: 2, date: 3, photo_id: 'x' } }, 'object.photo_id'],
    ['video_comment_new with a string owner', { type: 'video_comment_new', group_id: GROUP, event_id: 'e', object: { id: 1, from_id: 2, date: 3, video_id: 4, video_owner_id: 'club' } }, 'object.video_owner_id'],
    ['board_post_delete without id', { type: 'board_post_delete', group_id: GROUP, event_id: 'e', object: { topic_id: 4, topic_owner_id: -GROUP } }, 'object.id'],
    ['lead_forms_new without lead_id', { type: 'lead_forms_new', group_id: GROUP, event_id: 'e', object: { user_id: 1, form_id: 2 } }, 'object.lead_id'],
    ['lead_forms_new without user_id', { type: 'lead_forms_new', group_id: GROUP, event_id: 'e', object: { lead_id: 1, form_id: 2 } }, 'object.user_id'],
    ['lead_forms_new with an object as answers', { type: 'lead_forms_new', group_id: GROUP, event_id: 'e', object: { lead_id: 1, user_id: 1, form_id: 2, answers: {} } }, 'object.answers'],
    // Dates beyond the year 9999 have no ISO form (new Date(1e18).toISOString() throws).
    ['message_new dated 1e15', { type: 'message_new', group_id: GROUP, event_id: 'e', object: { message: { id: 1, date: 1e15, from_id: 1, peer_id: 1 } } }, 'object.message.date'],
    ['message_edit with update_time 1e15', { type: 'message_edit', group_id: GROUP, event_id: 'e', object: { id: 1, date: 1, update_time: 1e15, from_id: 1, peer_id: 1 } }, 'object.update_time'],
    ['wall_reply_new dated 1e308', { type: 'wall_reply_new', group_id: GROUP, event_id: 'e', object: { id: 1, from_id: 2, date: 1e308, post_id: 4 } }, 'object.date'],
    ['lead_forms_new with a lead id of 21 digits', { type: 'lead_forms_new', group_id: GROUP, event_id: 'e', object: { lead_id: '9'.repeat(21), user_id: 1, form_id: 2 } }, 'object.lead_id'],
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

describe('parseVkCallback – impossible dates in quoted messages', () => {
  it('a forwarded or quoted message with a date beyond 9999 is shown without its date', () => {
    const body = fixture('message_new.text.json');
    body.object.message.fwd_messages = [{ id: 5, date: 1e15, from_id: 7, text: 'old news' }];
    body.object.message.reply_message = { id: 6, date: 1e308, from_id: 7, text: 'quoted' };
    const text = (conversation(parseVkCallback(body)).event as { text: string }).text;
    expect(text).toContain('Forwarded message from id7:\n> old news');
    expect(text).toContain('In reply to message from id7:\n> quoted');
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
    for (const action of ['new', 'edit', 'delete', 'restore']) {
      expect(VK_EVENT_RECEIVE_KIND[`wall_reply_${action}`]).toBe('wallComments');
      expect(VK_EVENT_RECEIVE_KIND[`photo_comment_${action}`]).toBe('photoComments');
      expect(VK_EVENT_RECEIVE_KIND[`video_comment_${action}`]).toBe('videoComments');
      expect(VK_EVENT_RECEIVE_KIND[`board_post_${action}`]).toBe('boardComments');
    }
    expect(VK_EVENT_RECEIVE_KIND.group_join).toBeUndefined();
    expect(VK_EVENT_RECEIVE_KIND.market_comment_new).toBeUndefined();
  });
});
