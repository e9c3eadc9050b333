/** dtypes the addon moves, and the TypedArray that holds each one's elements. */

export type DType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'float16' | 'bfloat16' | 'uint16'
      ? Uint16Array
      : D extends 'int8'
        ? Int8Array
        : D extends 'int16'
          ? Int16Array
          : D extends 'int32'
            ? Int32Array
            : D extends 'int64'
              ? BigInt64Array
              : D extends 'uint32'
                ? Uint32Array
                : D extends 'uint64'
                  ? BigUint64Array
                  : Uint8Array;

export type AnyTypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

type TypedArrayCtor = { new (length: number): AnyTypedArray; readonly BYTES_PER_ELEMENT: number; readonly name: string };

const ARRAY_FOR: Record<DType, TypedArrayCtor> = {
  float32: Float32Array,
  float64: Float64Array,
  // 16-bit floats travel as their raw bits: JavaScript has no bfloat16.
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

export function isDType(value: string): value is DType {
  return Object.hasOwn(ARRAY_FOR, value);
}

export function typedArrayCtorFor(dtype: string): TypedArrayCtor | undefined {
  return isDType(dtype) ? ARRAY_FOR[dtype] : undefined;
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'bool' ? 1 : ARRAY_FOR[dtype].BYTES_PER_ELEMENT;
}
