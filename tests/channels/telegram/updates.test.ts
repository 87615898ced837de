import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseUpdate, TelegramUpdateError, type TelegramConversationItem, type TelegramUpdateItem } from '../../../channels/telegram/updates.js';
import { ANNA, tgUpdates } from '../../fakes/telegram-api.js';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../fixtures/telegram/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

const PEER = '512345678';
const AT = '2026-01-08T09:20:00.000Z';

function conversation(item: TelegramUpdateItem): TelegramConversationItem {
  expect(item.type).toBe('conversation');
  return item as TelegramConversationItem;
}

function inbound(name: string) {
  const item = conversation(parseUpdate(fixture(name)));
  expect(item.peerId).toBe(PEER);
  if (item.event.type !== 'inbound') throw new Error(`expected an inbound event, got ${item.event.type}`);
  return item.event;
}

function parseError(body: unknown): TelegramUpdateError {
  try {
    parseUpdate(body);
  } catch (err) {
    expect(err).toBeInstanceOf(TelegramUpdateError);
    return err as TelegramUpdateError;
  }
  throw new Error('expected a TelegramUpdateError');
}

describe('Telegram updates – private messages', () => {
  it('text: keys by update and by chat + message id, the time, and the name from first and last name', () => {
    const item = conversation(parseUpdate(fixture('message.text')));
    expect(item).toEqual({
      type: 'conversation',
      updateId: 840000101,
      peerId: PEER,
      event: {
        type: 'inbound',
        keys: ['tg-update:840000101', `tg-msg:${PEER}:201`],
        occurredAt: AT,
        externalId: `${PEER}:201`,
        text: 'Здравствуйте! Где мой заказ №4521?',
        media: [],
        profile: { name: 'Анна Смирнова' },
      },
    });
  });

  it('photo: the largest size, with the caption as the text and its size known', () => {
    const e = inbound('message.photo');
    expect(e.text).toBe('Вот фото упаковки');
    expect(e.media).toEqual([{ kind: 'image', mediaId: 'AgACAgIAAxkBAAIBsmZ_large', mimeType: 'image/jpeg', filename: 'photo-AQADlarge.jpg', size: 88214 }]);
  });

  it('document keeps its own name and type; the too-big one still names its size', () => {
    expect(inbound('message.document')).toMatchObject({
      text: 'Накладная',
      media: [{ kind: 'document', mediaId: 'BQACAgIAAxkBAAIBs2Z_doc', mimeType: 'application/pdf', filename: 'Накладная.pdf', size: 48213 }],
    });
    expect(inbound('message.document.too_big').media).toEqual([
      { kind: 'document', mediaId: 'BQACAgIAAxkBAAIBtGZ_big', mimeType: 'application/zip', filename: 'video-backup.zip', size: 26214400 },
    ]);
  });

  it.each([
    ['message.voice', { kind: 'voice', mimeType: 'audio/ogg', filename: 'voice-AgADvoice.ogg', size: 10458 }, ''],
    ['message.audio', { kind: 'audio', mimeType: 'audio/mpeg', filename: 'zvezda.mp3', size: 4404019 }, ''],
    ['message.video', { kind: 'video', mimeType: 'video/mp4', filename: 'unpacking.mp4', size: 3145728 }, 'Распаковка'],
    ['message.video_note', { kind: 'video', mimeType: 'video/mp4', filename: 'video-note-AgADnote.mp4', size: 412345 }, ''],
    ['message.sticker', { kind: 'sticker', mimeType: 'image/webp', filename: 'sticker-AgADsticker.webp', size: 23450 }, '[sticker 👍]'],
  ])('%s: one file by its file_id', (name, ref, text) => {
    const e = inbound(name);
    expect(e.text).toBe(text);
    expect(e.media).toHaveLength(1);
    expect(e.media[0]).toMatchObject(ref);
    expect(e.media[0]!.mediaId).toMatch(/^[A-Za-z]{4}/);
  });

  it('animated and video stickers get their own types', () => {
    const sticker = (extra: Record<string, unknown>) =>
      inbound2(tgUpdates.message(ANNA, { sticker: { file_id: 'CAAC1', file_unique_id: 'S1', is_animated: false, is_video: false, ...extra } })).media[0];
    expect(sticker({ is_animated: true })).toMatchObject({ mimeType: 'application/x-tgsticker', filename: 'sticker-S1.tgs' });
    expect(sticker({ is_video: true })).toMatchObject({ mimeType: 'video/webm', filename: 'sticker-S1.webm' });
  });

  it('a GIF (animation with its document copy) is one file, not two', () => {
    const gif = { file_id: 'CgAC1', file_unique_id: 'G1', file_name: 'cat.mp4', mime_type: 'video/mp4', file_size: 1000 };
    expect(inbound2(tgUpdates.message(ANNA, { animation: gif, document: gif })).media).toEqual([
      { kind: 'video', mediaId: 'CgAC1', mimeType: 'video/mp4', filename: 'cat.mp4', size: 1000 },
    ]);
  });

  it('location, venue and contact become text', () => {
    expect(inbound('message.location').text).toBe('Location: 55.753215, 37.622504\nhttps://maps.google.com/?q=55.753215,37.622504');
    expect(inbound('message.venue').text).toBe('Location: Пункт выдачи\nМосква, Красная пл., 1\nhttps://maps.google.com/?q=55.753215,37.622504');
    expect(inbound('message.contact').text).toBe('Contact: Иван Петров\nPhone: +79161234567\nTelegram user id: 612345678');
  });

  it('a reply names the quoted message', () => {
    expect(inbound('message.reply')).toMatchObject({ text: 'Да, это он', replyToExternalId: `${PEER}:5001` });
  });

  it('content taskwire cannot show is a placeholder, never dropped', () => {
    expect(inbound('message.poll').text).toBe('[unsupported message: poll]');
  });

  it('a file object that does not parse is named as not available; a forward is marked', () => {
    expect(inbound2(tgUpdates.message(ANNA, { caption: 'см.', document: { file_name: 'x.pdf' } }))).toMatchObject({ text: 'см.\n[document not available]', media: [] });
    expect(inbound2(tgUpdates.message(ANNA, { text: 'от жены', forward_origin: { type: 'hidden_user', sender_user_name: 'Оля', date: 1 } })).text).toBe('от жены\n[forwarded]');
  });

  it('without last name, the first name; without from, the chat names the person', () => {
    const u = { id: 42, first_name: 'Bob' };
    expect(inbound2(tgUpdates.text(u, 'hi')).profile).toEqual({ name: 'Bob' });
    const body = tgUpdates.text(ANNA, 'hi');
    delete (body.message as Record<string, unknown>).from;
    expect(inbound2(body).profile).toEqual({ name: 'Анна Смирнова' });
  });
});

function inbound2(body: unknown) {
  const item = conversation(parseUpdate(body));
  if (item.event.type !== 'inbound') throw new Error('expected inbound');
  return item.event;
}

describe('Telegram updates – edits and membership', () => {
  it('edited_message edits the message by its id, at edit_date', () => {
    expect(conversation(parseUpdate(fixture('edited_message')))).toEqual({
      type: 'conversation',
      updateId: 840000115,
      peerId: PEER,
      event: {
        type: 'inbound_edit',
        keys: ['tg-update:840000115', `tg-edit:${PEER}:201:1767864090`],
        occurredAt: '2026-01-08T09:21:30.000Z',
        externalId: `${PEER}:201`,
        text: 'Здравствуйте! Где мой заказ №4522?',
        media: [],
        editedAt: '2026-01-08T09:21:30.000Z',
      },
    });
  });

  it('my_chat_member kicked → messages denied; member → allowed', () => {
    expect(parseUpdate(fixture('my_chat_member.kicked'))).toEqual({
      type: 'conversation',
      updateId: 840000116,
      peerId: PEER,
      event: { type: 'permission', keys: ['tg-update:840000116'], occurredAt: '2026-01-08T09:23:20.000Z', allowed: false },
    });
    expect(conversation(parseUpdate(fixture('my_chat_member.member'))).event).toMatchObject({ type: 'permission', allowed: true });
  });

  it('other member statuses are ignored with old → new', () => {
    expect(parseUpdate(tgUpdates.myChatMember(ANNA, 'left'))).toMatchObject({ type: 'ignored', reason: 'chat_member_status', detail: 'member → left', peerId: PEER });
  });
});

describe('Telegram updates – ignored and refused', () => {
  it('groups, channels and other update kinds are ignored with a reason', () => {
    expect(parseUpdate(fixture('message.group'))).toEqual({ type: 'ignored', updateId: 840000118, reason: 'not_private', detail: 'message in a supergroup chat', peerId: '-1001234567890' });
    expect(parseUpdate(fixture('channel_post'))).toEqual({ type: 'ignored', updateId: 840000119, reason: 'not_private', detail: 'channel_post (a channel)' });
    expect(parseUpdate(fixture('callback_query'))).toEqual({ type: 'ignored', updateId: 840000120, reason: 'unsupported_update', detail: 'callback_query' });
    expect(parseUpdate({ update_id: 5 })).toMatchObject({ type: 'ignored', reason: 'unsupported_update', detail: 'no update field' });
  });

  it('bad input names the field', () => {
    expect(parseError('nope').field).toBe('body');
    expect(parseError([]).field).toBe('body');
    expect(parseError({ message: {} }).field).toBe('update_id');
    expect(parseError({ update_id: -1, message: {} }).field).toBe('update_id');
    expect(parseError({ update_id: 1.5 }).field).toBe('update_id');
    expect(parseError({ update_id: 1, message: 'x' }).field).toBe('message');
    const noChat = tgUpdates.text(ANNA, 'x');
    delete (noChat.message as Record<string, unknown>).chat;
    expect(parseError(noChat).field).toBe('message.chat');
    const badChatId = tgUpdates.text(ANNA, 'x');
    (badChatId.message as { chat: { id: unknown } }).chat.id = '512345678';
    expect(parseError(badChatId).field).toBe('message.chat.id');
    expect(parseError({ update_id: 1, edited_message: { message_id: 0, chat: { id: 1, type: 'private' }, date: 1 } }).field).toBe('edited_message.message_id');
    expect(parseError({ update_id: 1, my_chat_member: { chat: { id: 1, type: 'private' }, date: 1 } }).field).toBe('my_chat_member.new_chat_member');
  });

  it('an impossible date falls back to the time of receipt', () => {
    const receivedAt = new Date('2026-02-01T00:00:00Z');
    const item = conversation(parseUpdate(tgUpdates.message(ANNA, { text: 'x' }, { date: 0 }), { receivedAt }));
    expect(item.event.occurredAt).toBe(receivedAt.toISOString());
  });
});
