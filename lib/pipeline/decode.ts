/** The decode stage: the VAE decoder (it divides by the scaling factor itself), then RGBA packing on the device. */
import { ArtifactError } from '../errors.js';
import { callEntry, type LoadedModel } from './loaded-model.js';
import type { ResourceScope } from './resource-scope.js';

export interface DecodedImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  rgba: Uint8Array;
}

export async function decodeLatents(model: LoadedModel, scope: ResourceScope, latents: Float32Array): Promise<DecodedImage> {
  const { runtime, device, vm, params, geometry } = model;
  const input = scope.add(await runtime.emptyAsync(geometry.latentShape, 'float32', device));
  await input.copyFromAsync(latents);
  const decoded = scope.add(await callEntry(model, 'vae', input, params.vae!));
  const packed = scope.add(await callEntry(model, 'image_to_rgba', decoded));
  await device.syncAsync();
  const [height, width] = packed.shape as [number, number];
  if (height !== decoded.shape[1] || width !== decoded.shape[2]) {
    throw new ArtifactError(vm.file, `entry function 'image_to_rgba' returned [${height},${width}] for a vae image of [${decoded.shape.join(',')}]`);
  }
  const pixels = (await packed.toTypedArrayAsync()) as Uint32Array;
  // uint32 R | G<<8 | B<<16 | A<<24 read as bytes on a little-endian host is RGBA.
  return { width, height, rgba: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength) };
}
