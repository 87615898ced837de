import { describe, expect, it } from 'vitest';
import { messageKind, textShape } from '../../workflows/shared/message-kind.js';

const same = (a: string, b: string) => expect(messageKind({ text: a })).toBe(messageKind({ text: b }));
const different = (a: string, b: string) => expect(messageKind({ text: a })).not.toBe(messageKind({ text: b }));

describe('messages of the same kind (rule 22)', () => {
  it('identical texts', () => same('Скидка 20% на все диваны до воскресенья!', 'Скидка 20% на все диваны до воскресенья!'));

  it('personalised Russian mailings: a name, an order number, a date, a link', () => {
    same('Иван, ваш заказ 1234 готов', 'Мария, ваш заказ 98 готов');
    same('Здравствуйте, Анна! Ваш заказ №45821 передан в доставку 12.01.2026', 'Здравствуйте, Пётр Иванов! Ваш заказ №7 передан в доставку 3.02.2026');
    same('Ольга, курьер приедет 5 марта с 10:00 до 14:00', 'Сергей, курьер приедет 17 апреля с 12:30 до 16:30');
    same('Ваш промокод действует до 31 января: https://shop.example.ru/sale?u=101', 'Ваш промокод действует до 28 февраля: https://shop.example.ru/sale?u=7');
    same('Напоминаем о записи на +7 916 123-45-67', 'Напоминаем о записи на +7 (925) 000-11-22');
  });

  it('personalised English mailings', () => {
    same('Hi John, your order #1234 ships on March 3', 'Hi Mary, your order #98 ships on April 12');
    same('Dear Ms Smith, your invoice of 1,250.00 is due 2026-12-01', 'Dear Mr Brown, your invoice of 80.50 is due 2027-01-15');
  });

  it('similar but distinct manual answers are not the same kind', () => {
    different('Анна, доставка в Казань 350 ₽, 3–4 дня.', 'Сергей, доставка в Москву 500 ₽, 1–2 дня.');
    different('Да, этот диван есть в сером цвете.', 'Нет, этого дивана в сером цвете нет.');
    different('Hi John, your refund was approved', 'Hi Mary, your refund was declined');
    different('Заказ у курьера', 'Заказ на складе');
  });

  it('templates are the same kind whatever their parameters', () => {
    expect(messageKind({ text: 'Анна', template: { name: 'order_ready', language: 'ru' } })).toBe(
      messageKind({ text: 'Пётр', template: { name: 'order_ready', language: 'ru' } }),
    );
    expect(messageKind({ text: '', template: { name: 'order_ready', language: 'ru' } })).not.toBe(messageKind({ text: '', template: { name: 'order_ready', language: 'en' } }));
  });

  it('shapes are readable', () => {
    expect(textShape('Иван, ваш заказ 1234 готов')).toBe('‹name›, ваш заказ ‹n› готов');
    expect(textShape('Здравствуйте, Анна! Заказ №45821 — 12.01.2026')).toBe('здравствуйте ‹name›! заказ ‹n› — ‹date›');
  });
});
