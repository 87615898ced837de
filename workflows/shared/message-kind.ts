/**
 * "Messages of the same kind" (rule 22): a key that is equal for the messages of one mailing —
 * the same text, the same template, or personalised texts that differ only in a name, a number,
 * a date, a time or a link — and different for two people's own answers. Pure and deterministic
 * (usable in workflows and activities). The first building block of broadcast detection.
 */

const MONTHS =
  'января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря|' +
  'январь|февраль|март|апрель|май|июнь|июль|август|сентябрь|октябрь|ноябрь|декабрь|' +
  'january|february|march|april|may|june|july|august|september|october|november|december|' +
  'jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec';
const GREETINGS =
  'здравствуйте|здравствуй|добрый день|добрый вечер|доброе утро|привет|уважаемый|уважаемая|дорогой|дорогая|' +
  'hello|hi|hey|dear|good morning|good afternoon|good evening';

const NAME = String.raw`\p{Lu}[\p{Ll}'’-]+(?:\s+\p{Lu}[\p{Ll}'’-]+)?`;

// Word edges that also work for Cyrillic (`\b` in JavaScript knows only ASCII letters).
const B = String.raw`(?<![\p{L}\p{N}])`;
const E = String.raw`(?![\p{L}\p{N}])`;
const DAY = String.raw`(?:0?[1-9]|[12]\d|3[01])`;
const MONTH = String.raw`(?:0?[1-9]|1[0-2])`;
const re = (source: string) => new RegExp(source, 'giu');

/** Ordered replacements: links and addresses first, then dates and times, then any number. */
const RULES: Array<[RegExp, string]> = [
  [/https?:\/\/\S+|www\.\S+/giu, '‹url›'],
  [/[\p{L}\d._%+-]+@[\p{L}\d.-]+\.\p{L}{2,}/giu, '‹email›'],
  [re(String.raw`${B}\d{4}-\d{2}-\d{2}(?:[t ]\d{1,2}:\d{2}(?::\d{2})?)?${E}`), '‹date›'],
  [re(String.raw`(?<![\p{L}\p{N}.,])${DAY}[./]${MONTH}(?:[./]\d{2,4})?(?![\p{L}\p{N}]|[.,]\d)`), '‹date›'],
  [re(String.raw`${B}\d{1,2}(?:-?(?:го|е|st|nd|rd|th))?\s+(?:${MONTHS})${E}(?:\s+\d{4}${E})?`), '‹date›'],
  [re(String.raw`${B}(?:${MONTHS})\s+\d{1,2}(?:st|nd|rd|th)?${E}(?:,?\s+\d{4}${E})?`), '‹date›'],
  [re(String.raw`${B}\d{1,2}:\d{2}(?::\d{2})?${E}`), '‹time›'],
  [/\+?\d[\d\s()-]{6,}\d/gu, '‹n›'],
  [/[№#]\s?\d+(?:[\s ,.]\d+)*|\d+(?:[ ,.]\d+)*/gu, '‹n›'],
];

/** The key of a message's kind: `tpl:<name>:<language>` for templates, else `txt:<shape>`. */
export function messageKind(message: { text: string; template?: { name: string; language: string } }): string {
  if (message.template) return `tpl:${message.template.name}:${message.template.language}`;
  return `txt:${textShape(message.text)}`;
}

/** The text with its personal parts replaced by placeholders, case and spacing folded. */
export function textShape(text: string): string {
  // '№' before NFKC, which would turn it into 'No'.
  let s = text.replace(/№/gu, '#').normalize('NFKC').trim();
  // A name that opens the message ("Иван, …", "Maria! …") or follows a greeting.
  s = s.replace(new RegExp(String.raw`^(?:(${GREETINGS})[,!]?\s+)?${NAME}(?=\s*[,!])`, 'iu'), (_m, greeting?: string) =>
    greeting ? `${greeting.toLowerCase()} ‹name›` : '‹name›',
  );
  for (const [re, placeholder] of RULES) s = s.replace(re, placeholder);
  return s
    .toLowerCase()
    .replace(/\s+/gu, ' ')
    .replace(/(‹n›)(?:\s*[–-]\s*‹n›)+/gu, '$1')
    .trim();
}
