/**
 * Typed scalars for packed-function calls. A JavaScript number could be either an int or
 * a float argument, and TVM treats them differently, so the caller says which.
 */
import { InvalidArgumentError } from '../errors.js';

export interface TvmInt {
  readonly kind: 'int';
  readonly value: number | bigint;
}

export interface TvmFloat {
  readonly kind: 'float';
  readonly value: number;
}

export interface TvmDataType {
  readonly kind: 'dtype';
  readonly value: string;
}

export function int(value: number | bigint): TvmInt {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`tvm.int(${value}): not a safe integer (pass a bigint for large values)`);
  }
  return Object.freeze({ kind: 'int', value });
}

export function float(value: number): TvmFloat {
  if (typeof value !== 'number') throw new InvalidArgumentError('tvm.float() takes a number');
  return Object.freeze({ kind: 'float', value });
}

export function dtype(value: string): TvmDataType {
  return Object.freeze({ kind: 'dtype', value });
}
