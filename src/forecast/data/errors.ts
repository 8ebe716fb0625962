/** The kinds of record a {@link FinanceStore} holds, as named in its errors. */
export type FinanceRecordKind = 'user' | 'transaction' | 'goal';

/**
 * An id names no record of its kind. A `RangeError`, so code that only knows the input was out of range
 * still catches it; an HTTP layer can map this class to 404.
 */
export class RecordNotFoundError extends RangeError {
  readonly kind: FinanceRecordKind;
  readonly id: string;
  /** The input field that held the id: `id` for the record itself, `userId` for a reference. */
  readonly field: string;

  constructor(kind: FinanceRecordKind, id: string, field = 'id') {
    super(`${field}: no ${kind} with id ${JSON.stringify(id)}`);
    this.name = 'RecordNotFoundError';
    this.kind = kind;
    this.id = id;
    this.field = field;
  }
}

/** An add named an id that is already taken. An HTTP layer can map this class to 409. */
export class DuplicateRecordError extends RangeError {
  readonly kind: FinanceRecordKind;
  readonly id: string;

  constructor(kind: FinanceRecordKind, id: string) {
    super(`id: a ${kind} with id ${JSON.stringify(id)} already exists`);
    this.name = 'DuplicateRecordError';
    this.kind = kind;
    this.id = id;
  }
}
