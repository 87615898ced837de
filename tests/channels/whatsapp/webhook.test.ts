import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturePath } from '../../support/fixtures.js';
import { sign, verifySignature } from '../../../channels/whatsapp/signature.js';
import {
  WhatsAppWebhookError,
  parseWebhook,
  readWebhookJson,
  sanitizeFilename,
  type WhatsAppConversationItem,
  type WhatsAppItem,
  type WhatsAppWebhook,
} from '../../../channels/whatsapp/webhook.js';
import {
  FAKE_PHONE_NUMBER_ID,
  echoWebhook,
  mediaWebhook,
  messageWebhook,
  metaJson,
  reactionWebhook,
  signedWebhook,
  statusWebhook,
  textWebhook,
  webhookEnvelope,
} from '../../fakes/graph-api.js';

/** The WhatsApp webhook fixtures (tests/fixtures/whatsapp, byte-exact). */
const FIXTURES = fixturePath('whatsapp');
if (!existsSync(path.join(FIXTURES, 'message.text.json'))) throw new Error(`WhatsApp fixtures not found in ${FIXTURES}`);

const APP_SECRET = 'fixture-app-secret';
const PNID = '106540352242922';
const WABA = '102290129340398';

/** X-Hub-Signature-256 of each fixture, copied from the fixtures README. */
const SIGNATURES: Record<string, string> = {
  'message.text.json': 'sha256=58ca9eac280b75d5ec4a42dc5da6c09a47da292d04574f3b5bdab0da7f9dd139',
  'message.image.json': 'sha256=adb76f659214368e5809f1ac7680e39bf12c44663efe35e93602781866be6962',
  'message.document.json': 'sha256=46e450de944c6981e11b70da6dd1cf3b6bbfac11f44fccefd53de80957d7676e',
  'message.audio.voice.json': 'sha256=faf7530a6f979ae0502063cb441cbc648cc651b192627e92494d1baeccdce35e',
  'message.location.json': 'sha256=8f662fb7657c9905e53e4fc13c3ea593527176a1eae9f3cc595a899da35ea92c',
  'message.interactive.button_reply.json': 'sha256=6ae613cfcf7b82df0c2536fce43aaeccbcafb5504afa6ec00a17293b0de66724',
  'message.text.reply_context.json': 'sha256=72d314046f496e157d46e15ee8401a58a2db43dec341ec90abcfb7c2b76d629f',
  'message.text.batch_two.json': 'sha256=f4f76bf4b4b7c307b1d23d0010f27a55963652c135db956d508a2e0dad869bf0',
  'status.sent.json': 'sha256=83ac4806a62892bc7c2276e57bae094591dcfc9041fc052fb1522bf1aabe0c23',
  'status.delivered_read.json': 'sha256=566a3d235aba12b2a41cc9aaa484f7241b7eae4e2f9ed7fe116b4df47a28862a',
  'status.failed.131047.json': 'sha256=7eefb5be39766067b91834610e20dba5dff690aa25a2525410767ffc3857ea39',
  'echo.text.json': 'sha256=57ed848b68b3ffae1d5052631873e6d4eaafce53756609a3743d45afa0edc87f',
  'message.unsupported.json': 'sha256=086504062f326bd279b5ccfb2295bfd0de8571ff9caf186892b861262eee7ee2',
  'message.button.template_quick_reply.json': 'sha256=50e191bea4ee6f9af6c855779a7d6be63f56158e9a372915c33f5469a810e716',
  'message.contacts.json': 'sha256=d3da6aa3833ee15389fa4483bdff10b894bd6297696a337b2956c5d2f6726e7f',
};

function bytes(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, name));
}
function parseFixture(name: string): WhatsAppWebhook {
  return parseWebhook(readWebhookJson(bytes(name)));
}
function only(r: WhatsAppWebhook): WhatsAppItem {
  expect(r.items).toHaveLength(1);
  return r.items[0]!;
}
function conv(item: WhatsAppItem | undefined): WhatsAppConversationItem {
  expect(item?.type).toBe('conversation');
  return item as WhatsAppConversationItem;
}
const iso = (s: number) => new Date(s * 1000).toISOString();
/** The fixture routing every inbound item carries. */
const routed = (peerId: string) => ({ type: 'conversation', phoneNumberId: PNID, peerId });

describe('verifySignature – fixtures (exact file bytes)', () => {
  it('covers every fixture file, and every fixture verifies with the README signature', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(Object.keys(SIGNATURES).sort());
    for (const f of files) {
      const raw = bytes(f);
      expect(raw[raw.length - 1]).not.toBe(0x0a); // no trailing newline: the bytes are what Meta signed
      expect(verifySignature(raw, SIGNATURES[f], APP_SECRET), f).toBe(true);
      expect(sign(raw, APP_SECRET)).toBe(SIGNATURES[f]);
    }
  });

  it('wrong signature, missing header, wrong secret, tampered byte → false', () => {
    const raw = bytes('message.text.json');
    const good = SIGNATURES['message.text.json']!;
    expect(verifySignature(raw, undefined, APP_SECRET)).toBe(false);
    expect(verifySignature(raw, '', APP_SECRET)).toBe(false);
    expect(verifySignature(raw, good, 'wrong-secret')).toBe(false);
    expect(verifySignature(raw, good, '')).toBe(false);
    expect(verifySignature(raw, SIGNATURES['message.image.json'], APP_SECRET)).toBe(false);
    expect(verifySignature(raw, `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`, APP_SECRET)).toBe(false);
    const tampered = Buffer.from(raw);
    tampered[200] = tampered[200]! ^ 0x01;
    expect(verifySignature(tampered, good, APP_SECRET)).toBe(false);
    // A trailing newline (an editor's, a proxy's) changes the bytes.
    expect(verifySignature(Buffer.concat([raw, Buffer.from('\n')]), good, APP_SECRET)).toBe(false);
  });

  it('malformed headers are false without throwing; hex case does not matter', () => {
    const raw = bytes('status.sent.json');
    const hex = SIGNATURES['status.sent.json']!.slice('sha256='.length);
    for (const h of [hex, `sha1=${hex}`, `sha256=${hex.slice(2)}`, `sha256=${hex}00`, `sha256=${'z'.repeat(64)}`, 'sha256=', 'garbage', `sha256= ${hex}`]) {
      expect(verifySignature(raw, h, APP_SECRET), h).toBe(false);
    }
    expect(verifySignature(raw, `sha256=${hex.toUpperCase()}`, APP_SECRET)).toBe(true);
    expect(verifySignature(raw, ` sha256=${hex} `, APP_SECRET)).toBe(true);
  });

  it('re-serialised JSON does not verify (why the raw bytes matter)', () => {
    const raw = bytes('message.text.json');
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))), 'utf8');
    expect(reserialised.equals(raw)).toBe(false);
    expect(verifySignature(reserialised, SIGNATURES['message.text.json'], APP_SECRET)).toBe(false);
  });

  it('signedWebhook (fake) encodes like Meta: the fixture bytes come back exactly', () => {
    for (const f of Object.keys(SIGNATURES)) {
      const raw = bytes(f).toString('utf8');
      const { raw: again, signature } = signedWebhook(JSON.parse(raw) as object, APP_SECRET);
      expect(again, f).toBe(raw);
      expect(signature, f).toBe(SIGNATURES[f]);
    }
  });
});

describe('parseWebhook – fixtures', () => {
  it('message.text.json: inbound Cyrillic text with the profile', () => {
    const r = parseFixture('message.text.json');
    expect(r.phoneNumberIds).toEqual([PNID]);
    expect(r.wabaIds).toEqual([WABA]);
    const wamid = 'wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzODg5NEExOUYzNzZDNzM2RDg4NAA=';
    expect(only(r)).toEqual({
      ...routed('79161234567'),
      event: {
        type: 'inbound',
        keys: [`wa-msg:${PNID}:${wamid}`],
        occurredAt: iso(1790500000),
        externalId: wamid,
        text: 'Здравствуйте! Мой заказ №4521 до сих пор не пришёл. Подскажите, пожалуйста, где он?',
        media: [],
        profile: { name: 'Анна Смирнова', phone: '+79161234567' },
      },
    });
  });

  it('message.image.json: JPEG with caption and webhook url', () => {
    const item = conv(only(parseFixture('message.image.json')));
    expect(item).toMatchObject(routed('5511987654321'));
    expect(item.event).toEqual({
      type: 'inbound',
      keys: [`wa-msg:${PNID}:wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDU3RDhBM0I1NjU0OUQ0RDE2OTI5AA==`],
      occurredAt: iso(1790500060),
      externalId: 'wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDU3RDhBM0I1NjU0OUQ0RDE2OTI5AA==',
      text: 'Foto da caixa que chegou amassada',
      media: [
        {
          kind: 'image',
          mediaId: '4723733646589636',
          mimeType: 'image/jpeg',
          filename: 'image-4723733646589636.jpg',
          url: 'https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=4723733646589636&ext=1790500360&hash=AT7OdZcTE4unF-x4WjVm70E8oHTdoaBGQc4zqw',
        },
      ],
      profile: { name: 'Lucas Ferreira', phone: '+5511987654321' },
    });
  });

  it('message.document.json: PDF with its filename and caption', () => {
    const item = conv(only(parseFixture('message.document.json')));
    expect(item).toMatchObject(routed('919876543210'));
    expect(item.event).toMatchObject({
      type: 'inbound',
      externalId: 'wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgURjAyQTk2QzQ3NTlCREM3ODhFOTAA',
      occurredAt: iso(1790500120),
      text: 'Invoice for the refund request',
      media: [
        {
          kind: 'document',
          mediaId: '8359482778505744',
          mimeType: 'application/pdf',
          filename: 'invoice-2026-0917.pdf',
          url: 'https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=8359482778505744&ext=1790500420&hash=ATrPc8xau119oAGPul8N1jskpWKz8-SwJO4b2y',
        },
      ],
      profile: { name: 'Priya Sharma', phone: '+919876543210' },
    });
  });

  it('message.audio.voice.json: a voice note (audio + voice:true) with no text', () => {
    const item = conv(only(parseFixture('message.audio.voice.json')));
    expect(item).toMatchObject(routed('4915112345678'));
    expect(item.event).toMatchObject({
      type: 'inbound',
      occurredAt: iso(1790500180),
      text: '',
      media: [
        {
          kind: 'voice',
          mediaId: '2977041275040590',
          mimeType: 'audio/ogg; codecs=opus',
          filename: 'voice-2977041275040590.ogg',
          url: 'https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=2977041275040590&ext=1790500480&hash=AT9P8yIzJCgODeyuGCukYJAiGzBO_qGvzSf3Eo',
        },
      ],
      profile: { name: 'Jonas Weber', phone: '+4915112345678' },
    });
  });

  it('message.location.json: readable text with a map link; Mexican 521… wa_id kept as is', () => {
    const item = conv(only(parseFixture('message.location.json')));
    expect(item).toMatchObject(routed('5215512345678'));
    expect(item.event).toEqual({
      type: 'inbound',
      keys: [`wa-msg:${PNID}:wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFDVEOEYwNzQyRDM4RjI1QjMxREI2AA==`],
      occurredAt: iso(1790500240),
      externalId: 'wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFDVEOEYwNzQyRDM4RjI1QjMxREI2AA==',
      text:
        'Location: Palacio de Bellas Artes\n' +
        'Av. Juárez S/N, Centro Histórico, 06050 Ciudad de México, CDMX\n' +
        'https://maps.google.com/?q=19.4352,-99.1412',
      media: [],
      profile: { name: 'María José Pérez', phone: '+5215512345678' },
    });
  });

  it('message.interactive.button_reply.json: the tapped title, its id, and the quoted message', () => {
    const item = conv(only(parseFixture('message.interactive.button_reply.json')));
    expect(item).toMatchObject(routed('447700900123'));
    expect(item.event).toEqual({
      type: 'inbound',
      keys: [`wa-msg:${PNID}:wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUQ0Y1RDc5NTlBRDlFMzk5Qzg4MjYA`],
      occurredAt: iso(1790500300),
      externalId: 'wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUQ0Y1RDc5NTlBRDlFMzk5Qzg4MjYA',
      text: 'Call me back\n[button reply: callback_request]',
      media: [],
      profile: { name: 'Tom Baker', phone: '+447700900123' },
      replyToExternalId: 'wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSOTg0RkQyQjk5QjREREMwREM2AA==',
    });
  });

  it('message.text.reply_context.json: context.id → replyToExternalId (the wamid of status.sent.json)', () => {
    const item = conv(only(parseFixture('message.text.reply_context.json')));
    expect(item).toMatchObject(routed('79161234567'));
    const sentWamid = (parseFixture('status.sent.json').items[0] as { status: { externalId: string } }).status.externalId;
    expect(item.event).toMatchObject({
      type: 'inbound',
      text: 'Да, этот адрес верный, спасибо!',
      occurredAt: iso(1790500360),
      replyToExternalId: sentWamid,
      profile: { name: 'Анна Смирнова', phone: '+79161234567' },
    });
    expect(sentWamid).toBe('wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBJDM0I2MTkxQjlERDUxQzgxNTQA');
  });

  it('message.text.batch_two.json: two events for one person, in array order', () => {
    const r = parseFixture('message.text.batch_two.json');
    expect(r.items).toHaveLength(2);
    const [a, b] = r.items.map(conv);
    expect(a).toMatchObject(routed('818012345678'));
    expect(b).toMatchObject(routed('818012345678'));
    expect(a!.event).toEqual({
      type: 'inbound',
      keys: [`wa-msg:${PNID}:wamid.HBgMODE4MDEyMzQ1Njc4FQIAEhgUMzZGOEMwMEMzRkRGNzgwMkE1M0IA`],
      occurredAt: iso(1790500420),
      externalId: 'wamid.HBgMODE4MDEyMzQ1Njc4FQIAEhgUMzZGOEMwMEMzRkRGNzgwMkE1M0IA',
      text: 'こんにちは、返品について質問があります。',
      media: [],
      profile: { name: '佐藤 健二', phone: '+818012345678' },
    });
    expect(b!.event).toMatchObject({
      type: 'inbound',
      keys: [`wa-msg:${PNID}:wamid.HBgMODE4MDEyMzQ1Njc4FQIAEhgUQzM1RDM4N0U0NTIxODNCRTM5QkQA`],
      occurredAt: iso(1790500421),
      text: 'Order number is JP-88231.',
      profile: { name: '佐藤 健二', phone: '+818012345678' },
    });
  });

  it('status.sent.json: a sent status (conversation / pricing ignored)', () => {
    expect(only(parseFixture('status.sent.json'))).toEqual({
      type: 'status',
      phoneNumberId: PNID,
      status: {
        externalId: 'wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBJDM0I2MTkxQjlERDUxQzgxNTQA',
        status: 'sent',
        occurredAt: iso(1790500005),
        recipientId: '79161234567',
      },
    });
  });

  it('status.delivered_read.json: two status items, delivered then read', () => {
    const r = parseFixture('status.delivered_read.json');
    const wamid = 'wamid.HBgMOTcxNTAxMjM0NTY3FQIAERgSMTYyNENBMTgzRjZFQTIwMkUxAA==';
    expect(r.items).toEqual([
      { type: 'status', phoneNumberId: PNID, status: { externalId: wamid, status: 'delivered', occurredAt: iso(1790500600), recipientId: '971501234567' } },
      { type: 'status', phoneNumberId: PNID, status: { externalId: wamid, status: 'read', occurredAt: iso(1790500655), recipientId: '971501234567' } },
    ]);
  });

  it('status.failed.131047.json: failed with the error code and a readable reason', () => {
    expect(only(parseFixture('status.failed.131047.json'))).toEqual({
      type: 'status',
      phoneNumberId: PNID,
      status: {
        externalId: 'wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEkRGOEYzQkQxQTlGOEVGRDYzRQA=',
        status: 'failed',
        occurredAt: iso(1790500700),
        recipientId: '4915112345678',
        error: {
          code: 131047,
          message:
            'Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
        },
      },
    });
  });

  it('echo.text.json: observed outgoing to the customer (`to`), keyed wa-echo', () => {
    const wamid = 'wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkQzMjMyM0ExODM0OEMwQTE2MQA=';
    expect(only(parseFixture('echo.text.json'))).toEqual({
      ...routed('5511987654321'),
      event: {
        type: 'observed_outgoing',
        keys: [`wa-echo:${PNID}:${wamid}`],
        occurredAt: iso(1790500900),
        externalId: wamid,
        text: 'Oi Lucas! Já pedimos a troca, a nova caixa sai amanhã.',
        media: [],
        senderRef: 'WhatsApp Business app',
      },
    });
  });

  it('message.unsupported.json: a placeholder naming the kind and the error title, not dropped', () => {
    const item = conv(only(parseFixture('message.unsupported.json')));
    expect(item).toMatchObject(routed('61412345678'));
    expect(item.event).toEqual({
      type: 'inbound',
      keys: [`wa-msg:${PNID}:wamid.HBgLNjE0MTIzNDU2NzgVAgASGBRFNzdERDlFODEzQTA5QjQzOTUwNAA=`],
      occurredAt: iso(1790500960),
      externalId: 'wamid.HBgLNjE0MTIzNDU2NzgVAgASGBRFNzdERDlFODEzQTA5QjQzOTUwNAA=',
      text: '[unsupported message: poll_creation] Message type unknown',
      media: [],
      profile: { name: 'Olivia Brown', phone: '+61412345678' },
    });
  });

  it('message.button.template_quick_reply.json: the button text, its payload, and the template it answers', () => {
    const item = conv(only(parseFixture('message.button.template_quick_reply.json')));
    expect(item).toMatchObject(routed('971501234567'));
    const templateWamid = (parseFixture('status.delivered_read.json').items[0] as { status: { externalId: string } }).status.externalId;
    expect(item.event).toMatchObject({
      type: 'inbound',
      externalId: 'wamid.HBgMOTcxNTAxMjM0NTY3FQIAEhgUODQ3ODI3QjExMDhBNEFCNEJGMUYA',
      occurredAt: iso(1790501020),
      text: 'Talk to an agent\n[button payload: TALK_TO_AGENT]',
      media: [],
      replyToExternalId: templateWamid,
      profile: { name: 'Omar Haddad', phone: '+971501234567' },
    });
  });

  it('message.contacts.json: a readable contact card (name, company, phone, e-mail)', () => {
    const item = conv(only(parseFixture('message.contacts.json')));
    expect(item).toMatchObject(routed('351912345678'));
    expect(item.event).toMatchObject({
      type: 'inbound',
      occurredAt: iso(1790501080),
      text: 'Contact: Rui Almeida\nOrganization: Almeida & Filhos Lda\nPhone: +351 913 456 789 (MOBILE)\nEmail: rui.almeida@example.pt (WORK)',
      media: [],
      profile: { name: 'Inês Costa', phone: '+351912345678' },
    });
  });
});

describe('parseWebhook – encoding', () => {
  it('escaped (\\uXXXX, \\/) and literal UTF-8 bodies give identical items', () => {
    let differing = 0;
    for (const f of Object.keys(SIGNATURES)) {
      const escaped = bytes(f);
      const literal = Buffer.from(JSON.stringify(JSON.parse(escaped.toString('utf8'))), 'utf8');
      if (!literal.equals(escaped)) differing++;
      expect(parseWebhook(readWebhookJson(literal)), f).toEqual(parseWebhook(readWebhookJson(escaped)));
    }
    expect(differing).toBeGreaterThanOrEqual(10); // most fixtures use escapes (non-ASCII text, URLs, MIME types)
    const body = textWebhook({ from: '79161234567', id: 'wamid.E1', timestamp: 1790500000, text: 'Привет 👋🏽 https://example.com/a?b=c e@x.ru' });
    const a = parseWebhook(JSON.parse(metaJson(body)));
    const b = parseWebhook(JSON.parse(JSON.stringify(body)));
    expect(metaJson(body)).toContain('\\ud83d\\udc4b\\ud83c\\udffd');
    expect(metaJson(body)).toContain('https:\\/\\/example.com');
    expect(a).toEqual(b);
    expect((conv(a.items[0]).event as { text: string }).text).toBe('Привет 👋🏽 https://example.com/a?b=c e@x.ru');
  });

  it('readWebhookJson refuses bytes that are not UTF-8 JSON', () => {
    expect(() => readWebhookJson(new Uint8Array([0xff, 0xfe, 0x7b]))).toThrow(WhatsAppWebhookError);
    expect(() => readWebhookJson('{"object":')).toThrow(WhatsAppWebhookError);
  });
});

describe('parseWebhook – malformed bodies', () => {
  const fieldOf = (body: unknown): string => {
    try {
      parseWebhook(body);
    } catch (err) {
      expect(err).toBeInstanceOf(WhatsAppWebhookError);
      return (err as WhatsAppWebhookError).field;
    }
    throw new Error('expected WhatsAppWebhookError');
  };

  it('throws with the offending field', () => {
    expect(fieldOf(null)).toBe('body');
    expect(fieldOf('x')).toBe('body');
    expect(fieldOf([])).toBe('body');
    expect(fieldOf({ entry: [] })).toBe('object');
    expect(fieldOf({ object: 'page', entry: [] })).toBe('object');
    expect(fieldOf({ object: 'whatsapp_business_account' })).toBe('entry');
    expect(fieldOf({ object: 'whatsapp_business_account', entry: {} })).toBe('entry');
    expect(fieldOf({ object: 'whatsapp_business_account', entry: ['x'] })).toBe('entry.0');
    expect(fieldOf({ object: 'whatsapp_business_account', entry: [{ id: WABA }] })).toBe('entry.0.changes');
    expect(fieldOf({ object: 'whatsapp_business_account', entry: [{ id: WABA, changes: [{ value: {} }] }] })).toBe('entry.0.changes.0.field');
    expect(fieldOf({ object: 'whatsapp_business_account', entry: [{ id: WABA, changes: [{ field: 'messages', value: 'x' }] }] })).toBe(
      'entry.0.changes.0.value',
    );
    const noPnid = webhookEnvelope([{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {}, messages: [] } }]);
    expect(fieldOf(noPnid)).toBe('entry.0.changes.0.value.metadata.phone_number_id');
  });

  it('an empty entry list is a valid body with nothing in it', () => {
    expect(parseWebhook({ object: 'whatsapp_business_account', entry: [] })).toEqual({ phoneNumberIds: [], wabaIds: [], items: [] });
  });

  it('one broken element is reported as ignored; the rest of the batch goes through', () => {
    const body = textWebhook({ from: '79161234567', id: 'wamid.OK', timestamp: 1790500000, text: 'ok' }) as any;
    const value = body.entry[0].changes[0].value;
    value.messages.unshift({ from: '79161234567', timestamp: '1790500000', type: 'text', text: { body: 'no id' } }, 'junk');
    value.statuses = [{ status: 'read' }];
    const r = parseWebhook(body);
    expect(r.items.map((i) => i.type)).toEqual(['ignored', 'ignored', 'conversation', 'ignored']);
    expect(r.items[0]).toMatchObject({ reason: 'malformed', phoneNumberId: PNID });
    expect((r.items[0] as { detail: string }).detail).toContain('messages.0');
    expect(r.items[1]).toMatchObject({ reason: 'malformed' });
    expect(r.items[3]).toMatchObject({ reason: 'malformed' });
    expect(conv(r.items[2]).event).toMatchObject({ externalId: 'wamid.OK', text: 'ok' });
  });
});

describe('parseWebhook – batching and routing', () => {
  it('visits every entry and change; routes by metadata.phone_number_id, not entry.id', () => {
    const a = textWebhook({ pnid: '111111111111111', from: '79161234567', id: 'wamid.A', timestamp: 1790500000, text: 'first' }) as any;
    const b = statusWebhook({ pnid: '222222222222222', wamid: 'wamid.S', status: 'delivered', recipientId: '79161234567', timestamp: 1790500001 }) as any;
    const c = echoWebhook({ pnid: '111111111111111', to: '5511987654321', id: 'wamid.E', timestamp: 1790500002, text: 'echo' }) as any;
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        { id: 'WABA-1', changes: [a.entry[0].changes[0], { field: 'account_update', value: { event: 'PARTNER_REMOVED' } }] },
        { id: 'WABA-2', changes: [b.entry[0].changes[0], c.entry[0].changes[0]] },
      ],
    };
    const r = parseWebhook(body);
    expect(r.phoneNumberIds).toEqual(['111111111111111', '222222222222222']);
    expect(r.wabaIds).toEqual(['WABA-1', 'WABA-2']);
    expect(r.items.map((i) => [i.type, i.phoneNumberId])).toEqual([
      ['conversation', '111111111111111'],
      ['ignored', undefined],
      ['status', '222222222222222'],
      ['conversation', '111111111111111'],
    ]);
    expect(r.items[1]).toEqual({ type: 'ignored', reason: 'unsupported_field', detail: 'account_update' });
    expect(conv(r.items[0]).event.keys).toEqual(['wa-msg:111111111111111:wamid.A']);
    expect(conv(r.items[3]).event.keys).toEqual(['wa-echo:111111111111111:wamid.E']);
  });

  it('messages from two people in one value each get their own wa_id and profile', () => {
    const body = textWebhook({ from: '79161234567', name: 'Анна', id: 'wamid.1', timestamp: 1790500000, text: 'a' }) as any;
    const value = body.entry[0].changes[0].value;
    value.contacts.push({ profile: { name: 'Tom' }, wa_id: '447700900123' });
    value.messages.push({ from: '447700900123', id: 'wamid.2', timestamp: '1790500001', type: 'text', text: { body: 'b' } });
    const [x, y] = parseWebhook(body).items.map(conv);
    expect([x!.peerId, y!.peerId]).toEqual(['79161234567', '447700900123']);
    expect(x!.event).toMatchObject({ profile: { name: 'Анна', phone: '+79161234567' } });
    expect(y!.event).toMatchObject({ profile: { name: 'Tom', phone: '+447700900123' } });
  });

  it('a single contact whose wa_id differs from `from` (Brazil) keys the customer on wa_id', () => {
    const body = textWebhook({ from: '551187654321', id: 'wamid.BR', timestamp: 1790500000, text: 'oi' }) as any;
    body.entry[0].changes[0].value.contacts[0].wa_id = '5511987654321';
    const item = conv(parseWebhook(body).items[0]);
    expect(item.peerId).toBe('5511987654321');
    expect(item.event).toMatchObject({ profile: { phone: '+5511987654321' } });
  });

  it('without contacts[] the sender is `from`; an empty profile name is left out', () => {
    const item = conv(parseWebhook(textWebhook({ from: '79161234567', name: null, id: 'wamid.N', text: 'x' })).items[0]);
    expect(item.peerId).toBe('79161234567');
    expect(item.event).toMatchObject({ profile: { phone: '+79161234567' } });
    const blank = textWebhook({ from: '79161234567', name: '  ', id: 'wamid.N2', text: 'x' });
    expect((conv(parseWebhook(blank).items[0]).event as { profile?: object }).profile).toEqual({ phone: '+79161234567' });
  });

  it('a message with no phone number (username / BSUID only) is ignored with the user id noted', () => {
    const body = textWebhook({ from: '79161234567', id: 'wamid.U', text: 'hi' }) as any;
    const value = body.entry[0].changes[0].value;
    value.contacts = [{ profile: { name: 'x' }, wa_id: '', user_id: 'US.13491208655302741918' }];
    delete value.messages[0].from;
    value.messages[0].from_user_id = 'US.13491208655302741918';
    const item = parseWebhook(body).items[0];
    expect(item).toMatchObject({ type: 'ignored', reason: 'malformed' });
    expect((item as { detail: string }).detail).toContain('US.13491208655302741918');
  });

  it('a missing or unreadable timestamp falls back to the time of receipt', () => {
    const body = textWebhook({ from: '79161234567', id: 'wamid.T', text: 'x' }) as any;
    delete body.entry[0].changes[0].value.messages[0].timestamp;
    const receivedAt = new Date('2026-09-27T10:00:00Z');
    expect(conv(parseWebhook(body, { receivedAt }).items[0]).event.occurredAt).toBe(receivedAt.toISOString());
    const echo = echoWebhook({ to: '5511987654321', id: 'wamid.EN', text: 'x' }) as any;
    echo.entry[0].changes[0].value.message_echoes[0].timestamp = 1790500900; // §7.1: an integer in the table
    expect(conv(parseWebhook(echo).items[0]).event.occurredAt).toBe(iso(1790500900));
  });
});

describe('parseWebhook – message types', () => {
  const one = (body: Record<string, unknown>) => parseWebhook(body).items[0]!;
  const event = (body: Record<string, unknown>) => conv(one(body)).event as Record<string, any>;
  const base = { from: '79161234567', id: 'wamid.X', timestamp: 1790500000 };

  it('video / audio / sticker / document without filename get names from their MIME type', () => {
    expect(event(mediaWebhook({ ...base, kind: 'video', mediaId: '11', mimeType: 'video/mp4', caption: 'видео' }))).toMatchObject({
      text: 'видео',
      media: [{ kind: 'video', mediaId: '11', mimeType: 'video/mp4', filename: 'video-11.mp4' }],
    });
    const audio = event(mediaWebhook({ ...base, kind: 'audio', mediaId: '12', mimeType: 'audio/mpeg' }));
    expect(audio.media).toEqual([{ kind: 'audio', mediaId: '12', mimeType: 'audio/mpeg', filename: 'audio-12.mp3' }]);
    expect(audio.text).toBe('');
    expect(event(mediaWebhook({ ...base, kind: 'sticker', mediaId: '13', mimeType: 'image/webp' })).media).toEqual([
      { kind: 'sticker', mediaId: '13', mimeType: 'image/webp', filename: 'sticker-13.webp' },
    ]);
    expect(event(mediaWebhook({ ...base, kind: 'document', mediaId: '14', mimeType: 'application/pdf' })).media[0].filename).toBe('document-14.pdf');
  });

  it('document filenames are sanitised', () => {
    const e = event(mediaWebhook({ ...base, kind: 'document', mediaId: '15', mimeType: 'application/pdf', filename: '../../etc/pass\u0000wd<1>.pdf' }));
    expect(e.media[0].filename).toBe('passwd_1_.pdf');
    expect(sanitizeFilename('..\\..\\boot.ini')).toBe('boot.ini');
    expect(sanitizeFilename('...', 'application/pdf')).toBeUndefined();
    expect(sanitizeFilename('Счёт 45821', 'application/pdf')).toBe('Счёт 45821.pdf');
    expect(sanitizeFilename(`${'x'.repeat(300)}.docx`)).toBe(`${'x'.repeat(175)}.docx`);
    expect(sanitizeFilename('report\u202Efdp.exe')).toBe('reportfdp.exe');
  });

  it('media without an id (a failed download on Meta\'s side) keeps the caption and notes the error', () => {
    const body = mediaWebhook({ ...base, kind: 'image', mediaId: '16', mimeType: 'image/jpeg', caption: 'фото' }) as any;
    const msg = body.entry[0].changes[0].value.messages[0];
    delete msg.image.id;
    msg.errors = [{ code: 131052, title: 'Media download error', message: 'Media download error', error_data: { details: 'too large' } }];
    expect(event(body)).toMatchObject({ text: 'фото\n[image not available]\n[WhatsApp error 131052: Media download error: too large]', media: [] });
  });

  it('list_reply: title, description and id', () => {
    const e = event(
      messageWebhook({
        ...base,
        message: { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'slot_2', title: 'Tomorrow 10:00', description: 'Courier slot' } } },
      }),
    );
    expect(e.text).toBe('Tomorrow 10:00\nCourier slot\n[list reply: slot_2]');
  });

  it('a button whose payload equals its text shows the text only', () => {
    expect(event(messageWebhook({ ...base, message: { type: 'button', button: { payload: 'Yes', text: 'Yes' } } })).text).toBe('Yes');
  });

  it('reaction → reaction event; a removal (emoji omitted or empty) has emoji ""', () => {
    expect(one(reactionWebhook({ ...base, id: 'wamid.R1', messageId: 'wamid.TARGET', emoji: '👍🏽' }))).toEqual({
      ...routed('79161234567'),
      event: { type: 'reaction', keys: [`wa-msg:${PNID}:wamid.R1`], occurredAt: iso(1790500000), externalId: 'wamid.R1', targetExternalId: 'wamid.TARGET', emoji: '👍🏽' },
    });
    expect(event(reactionWebhook({ ...base, id: 'wamid.R2', messageId: 'wamid.TARGET' })).emoji).toBe('');
    expect(event(reactionWebhook({ ...base, id: 'wamid.R3', messageId: 'wamid.TARGET', emoji: '' })).emoji).toBe('');
    expect(one(messageWebhook({ ...base, message: { type: 'reaction', reaction: { emoji: '👍' } } }))).toMatchObject({ type: 'ignored', reason: 'malformed' });
  });

  it('forwarded messages are marked', () => {
    const body = textWebhook({ ...base, text: 'смотрите' }) as any;
    body.entry[0].changes[0].value.messages[0].context = { forwarded: true };
    expect(event(body)).toMatchObject({ text: 'смотрите\n[forwarded]' });
    expect(event(body).replyToExternalId).toBeUndefined();
    body.entry[0].changes[0].value.messages[0].context = { frequently_forwarded: true };
    expect(event(body).text).toBe('смотрите\n[forwarded many times]');
  });

  it('a click-to-WhatsApp ad referral is noted', () => {
    const body = textWebhook({ ...base, text: 'Is this available?' }) as any;
    body.entry[0].changes[0].value.messages[0].referral = { source_url: 'https://fb.me/ad1', source_type: 'ad', headline: 'Autumn sale' };
    expect(event(body).text).toBe('Is this available?\n[via an ad: Autumn sale https://fb.me/ad1]');
  });

  it('unknown types become a placeholder text, never dropped', () => {
    expect(event(messageWebhook({ ...base, message: { type: 'gif', gif: {} } })).text).toBe('[unsupported message: gif]');
    const unknown = messageWebhook({
      ...base,
      message: { type: 'unknown', errors: [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown' }] },
    });
    expect(event(unknown).text).toBe('[unsupported message: unknown] Message type unknown');
    const noType = messageWebhook({ ...base, message: {} });
    expect(event(noType).text).toBe('[unsupported message: unknown]');
    const edited = messageWebhook({ ...base, message: { type: 'unsupported', unsupported: { type: 'edit' }, errors: [{ code: 131060, title: 'This message is currently unavailable' }] } });
    expect(event(edited).text).toBe('[unsupported message: edit] This message is currently unavailable');
  });

  it('an order lists its items', () => {
    const e = event(
      messageWebhook({
        ...base,
        message: {
          type: 'order',
          order: { catalog_id: '777', text: 'Please deliver', product_items: [{ product_retailer_id: 'SKU-1', quantity: 2, item_price: 10.5, currency: 'EUR' }] },
        },
      }),
    );
    expect(e.text).toBe('Please deliver\nOrder (catalog 777):\n- SKU-1 × 2 — 10.5 EUR');
  });

  it('a location without name or address still gets coordinates and a map link', () => {
    const e = event(messageWebhook({ ...base, message: { type: 'location', location: { latitude: 55.7558, longitude: 37.6173 } } }));
    expect(e.text).toBe('Location: 55.7558, 37.6173\nhttps://maps.google.com/?q=55.7558,37.6173');
  });

  it('system user_changed_number is ignored with both numbers noted; request_welcome is ignored', () => {
    const sys = messageWebhook({
      ...base,
      name: null,
      message: { type: 'system', system: { body: 'User A changed from 79161234567 to 79161234568', wa_id: '79161234568', type: 'user_changed_number' } },
    });
    expect(one(sys)).toEqual({
      type: 'ignored',
      phoneNumberId: PNID,
      reason: 'user_changed_number',
      detail: '79161234567 changed their number to 79161234568: User A changed from 79161234567 to 79161234568',
      peerId: '79161234567',
    });
    expect(one(messageWebhook({ ...base, message: { type: 'request_welcome' } }))).toEqual({
      type: 'ignored',
      phoneNumberId: PNID,
      reason: 'request_welcome',
      peerId: '79161234567',
    });
  });

  it('coexistence edit → inbound_edit of the original message; revoke → a note quoting it', () => {
    const edit = messageWebhook({
      ...base,
      id: 'wamid.EDIT',
      message: { type: 'edit', edit: { original_message_id: 'wamid.ORIG', message: { type: 'text', text: { body: 'исправлено' } } } },
    });
    expect(event(edit)).toEqual({
      type: 'inbound_edit',
      keys: [`wa-msg:${PNID}:wamid.EDIT`],
      occurredAt: iso(1790500000),
      externalId: 'wamid.ORIG',
      text: 'исправлено',
      media: [],
      editedAt: iso(1790500000),
    });
    const revoke = messageWebhook({ ...base, id: 'wamid.REV', message: { type: 'revoke', revoke: { original_message_id: 'wamid.ORIG' } } });
    expect(event(revoke)).toMatchObject({ type: 'inbound', text: '[the customer deleted a message]', replyToExternalId: 'wamid.ORIG' });
  });

  it('echo edit / revoke are ignored with a reason; an echoed image is observed with its media', () => {
    const body = echoWebhook({ to: '5511987654321', id: 'wamid.EE', text: 'x' }) as any;
    const echo = body.entry[0].changes[0].value.message_echoes[0];
    echo.type = 'revoke';
    echo.revoke = { original_message_id: 'wamid.OLD' };
    expect(one(body)).toMatchObject({ type: 'ignored', reason: 'echo_revoke', peerId: '5511987654321' });
    echo.type = 'image';
    echo.image = { id: '99', mime_type: 'image/png', sha256: 'x', caption: 'прайс' };
    expect(event(body)).toMatchObject({
      type: 'observed_outgoing',
      text: 'прайс',
      media: [{ kind: 'image', mediaId: '99', mimeType: 'image/png', filename: 'image-99.png' }],
    });
  });
});

describe('parseWebhook – statuses and errors', () => {
  it('played → read; unknown status strings are ignored; biz_opaque_callback_data is the sendKey', () => {
    const played = parseWebhook(statusWebhook({ wamid: 'wamid.V', status: 'played', recipientId: '79161234567', timestamp: 1790500100, bizOpaqueCallbackData: '4711' }));
    expect(played.items[0]).toEqual({
      type: 'status',
      phoneNumberId: PNID,
      status: { externalId: 'wamid.V', status: 'read', occurredAt: iso(1790500100), recipientId: '79161234567' },
      sendKey: '4711',
    });
    const deleted = parseWebhook(statusWebhook({ wamid: 'wamid.V', status: 'deleted', recipientId: '79161234567' }));
    expect(deleted.items[0]).toEqual({ type: 'ignored', phoneNumberId: PNID, reason: 'unknown_status', detail: 'status "deleted" for wamid.V', peerId: '79161234567' });
  });

  it('failed statuses carry errors[0]', () => {
    const r = parseWebhook(statusWebhook({ wamid: 'wamid.F', status: 'failed', recipientId: '79161234567', errorCode: 131026 }));
    expect(r.items[0]).toMatchObject({ type: 'status', status: { status: 'failed', error: { code: 131026 } } });
    expect((r.items[0] as any).status.error.message).toMatch(/^Message undeliverable: /);
  });

  it('value.errors[] become ignored items with the detail to log', () => {
    const body = webhookEnvelope([
      {
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: FAKE_PHONE_NUMBER_ID },
          errors: [{ code: 130429, title: 'Rate limit hit', message: 'Rate limit hit', error_data: { details: 'Cloud API message throughput has been reached.' } }],
        },
      },
    ]);
    expect(parseWebhook(body).items).toEqual([
      { type: 'ignored', phoneNumberId: PNID, reason: 'system_error', detail: '130429 Rate limit hit: Cloud API message throughput has been reached.' },
    ]);
  });

  it('a messages change with nothing in it is reported as empty', () => {
    const body = webhookEnvelope([{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: PNID } } }]);
    expect(parseWebhook(body).items).toEqual([{ type: 'ignored', phoneNumberId: PNID, reason: 'empty_change' }]);
  });

  it('statuses are made storable: NUL and lone surrogates replaced, over-long ids and callback data not taken', () => {
    const body = statusWebhook({ wamid: 'wamid.\u0000x', status: 'read', recipientId: '7916\ud800', bizOpaqueCallbackData: 'k\u0000' });
    expect(parseWebhook(body).items[0]).toMatchObject({ type: 'status', status: { externalId: 'wamid.\uFFFDx', recipientId: '7916\uFFFD' }, sendKey: 'k\uFFFD' });
    const long = parseWebhook(statusWebhook({ wamid: `wamid.${'x'.repeat(600)}`, status: 'read', recipientId: '79161234567' }));
    expect(long.items[0]).toMatchObject({ type: 'ignored', reason: 'malformed' });
    const longKey = parseWebhook(statusWebhook({ wamid: 'wamid.K', status: 'read', recipientId: '79161234567', bizOpaqueCallbackData: 'k'.repeat(600) }));
    expect(longKey.items[0]).not.toHaveProperty('sendKey');
  });
});

describe('parseWebhook – values no channel, workflow or database can take', () => {
  it('a timestamp beyond the year 9999 is unreadable: the time of receipt stands in', () => {
    const receivedAt = new Date('2026-01-02T03:04:05.000Z');
    for (const timestamp of ['999999999999999', 1e308, '1e400']) {
      const [item] = parseWebhook(textWebhook({ from: '79161234567', text: 'hi', timestamp }), { receivedAt }).items;
      expect(item, String(timestamp)).toMatchObject({ type: 'conversation', event: { occurredAt: receivedAt.toISOString() } });
    }
    const [status] = parseWebhook(statusWebhook({ wamid: 'wamid.T', status: 'sent', recipientId: '79161234567', timestamp: '999999999999999' }), { receivedAt }).items;
    expect(status).toMatchObject({ type: 'status', status: { occurredAt: receivedAt.toISOString() } });
  });

  it('a phone number id with NUL or a lone surrogate is refused, naming it', () => {
    for (const pnid of [`${PNID}\u0000`, '\ud800']) {
      let error: unknown;
      try {
        parseWebhook(textWebhook({ pnid, from: '79161234567', text: 'hi' }));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(WhatsAppWebhookError);
      expect((error as WhatsAppWebhookError).field).toBe('entry.0.changes.0.value.metadata.phone_number_id');
    }
  });

  it('a messages change without metadata names the missing metadata', () => {
    expect(() => parseWebhook(webhookEnvelope([{ field: 'messages', value: { messages: [] } }]))).toThrow(/entry\.0\.changes\.0\.value\.metadata: required/);
  });

  it('a sender or echo recipient that is not a phone number (wa_id) is a malformed item, not a conversation', () => {
    for (const from of ['7916\u0000', '\ud83d', 'x'.repeat(40), '+79161234567', '7'.repeat(33)]) {
      const items = parseWebhook(textWebhook({ from, name: null, text: 'hi' })).items;
      expect(items, JSON.stringify(from)).toEqual([expect.objectContaining({ type: 'ignored', reason: 'malformed' })]);
    }
    expect(parseWebhook(echoWebhook({ to: 'abc', text: 'hi' })).items[0]).toMatchObject({ type: 'ignored', reason: 'malformed' });
  });
});
