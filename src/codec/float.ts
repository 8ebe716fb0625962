// Reading a little-endian float64 out of a byte array without a DataView: a DataView per decoded entry or value
// was a measurable share of an L2 hit's allocations. Eight bytes go into one shared scratch cell instead.
const cell = new Float64Array(1);
const cellBytes = new Uint8Array(cell.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The float64 stored little-endian at `offset` (the caller has checked that 8 bytes are there). */
export function readFloat64LE(bytes: Uint8Array, offset: number): number {
  if (littleEndian) {
    cellBytes[0] = bytes[offset]!;
    cellBytes[1] = bytes[offset + 1]!;
    cellBytes[2] = bytes[offset + 2]!;
    cellBytes[3] = bytes[offset + 3]!;
    cellBytes[4] = bytes[offset + 4]!;
    cellBytes[5] = bytes[offset + 5]!;
    cellBytes[6] = bytes[offset + 6]!;
    cellBytes[7] = bytes[offset + 7]!;
  } else {
    for (let i = 0; i < 8; i++) cellBytes[7 - i] = bytes[offset + i]!;
  }
  return cell[0]!;
}

/** The uint16 stored little-endian at `offset`. */
export function readUint16LE(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8);
}
