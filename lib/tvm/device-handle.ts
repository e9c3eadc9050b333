import { DEVICE_ATTR, DEVICE_TYPE, deviceKindOf, type DeviceKind } from './device.js';
import type { TvmRuntime } from './runtime.js';
import { int } from './scalars.js';

export interface DeviceAttributes {
  exists: boolean;
  name?: string;
  computeVersion?: string;
  maxThreadsPerBlock?: number;
  warpSize?: number;
  maxSharedMemoryPerBlock?: number;
  multiProcessorCount?: number;
  maxClockRate?: number;
  totalGlobalMemory?: number;
  apiVersion?: number;
  driverVersion?: string;
}

/** A device as TVM sees it; its facts come from `runtime.GetDeviceAttr`, asked on the runtime's worker thread. */
export class Device {
  readonly kind: DeviceKind | 'unknown';
  readonly deviceType: number;
  readonly deviceId: number;
  readonly #runtime: TvmRuntime;

  /** @internal Use `runtime.device()`. */
  constructor(runtime: TvmRuntime, deviceType: number, deviceId: number) {
    this.#runtime = runtime;
    this.deviceType = deviceType;
    this.deviceId = deviceId;
    this.kind = deviceKindOf(deviceType) ?? 'unknown';
  }

  /**
   * One attribute, asked on the runtime's worker thread; undefined where the runtime or
   * driver has none for this device. The device is readied first (tvm-ffi loads its
   * library on first use): a library that fails to load is a TvmError.
   */
  async attributeAsync(name: keyof typeof DEVICE_ATTR): Promise<number | string | undefined> {
    await this.#runtime.native.prepareDeviceAsync(this.deviceType, this.deviceId);
    const getAttr = await this.#runtime.findGlobalFunctionAsync('runtime.GetDeviceAttr');
    if (!getAttr) return undefined;
    try {
      const value = await getAttr.callAsync(int(this.deviceType), int(this.deviceId), int(DEVICE_ATTR[name]));
      return typeof value === 'number' || typeof value === 'string' ? value : typeof value === 'bigint' ? Number(value) : undefined;
    } catch {
      // Back ends throw for attributes they do not implement (e.g. CPU's warp size).
      return undefined;
    } finally {
      getAttr.dispose();
    }
  }

  /** Whether the runtime has this device (the driver sees it). */
  async existsAsync(): Promise<boolean> {
    return (await this.attributeAsync('exist')) === 1;
  }

  /** Every attribute TVM reports for this device (only `exists` when it is absent). */
  async attributesAsync(): Promise<DeviceAttributes> {
    if (!(await this.existsAsync())) return { exists: false };
    const out: Record<string, unknown> = { exists: true };
    // In DeviceAttributes' order, each read as its type.
    const facts = [
      ['name', 'deviceName', 'string'],
      ['computeVersion', 'computeVersion', 'string'],
      ['maxThreadsPerBlock', 'maxThreadsPerBlock', 'number'],
      ['warpSize', 'warpSize', 'number'],
      ['maxSharedMemoryPerBlock', 'maxSharedMemoryPerBlock', 'number'],
      ['multiProcessorCount', 'multiProcessorCount', 'number'],
      ['maxClockRate', 'maxClockRate', 'number'],
      ['totalGlobalMemory', 'totalGlobalMemory', 'number'],
      ['apiVersion', 'apiVersion', 'number'],
      ['driverVersion', 'driverVersion', 'string'],
    ] as const;
    for (const [key, attr, type] of facts) {
      const v = await this.attributeAsync(attr);
      if (typeof v === type) out[key] = v;
    }
    return out as unknown as DeviceAttributes;
  }

  /**
   * Waits for everything queued on this device (OpenCL: clFinish), on the runtime's thread.
   * A GPU model call returns once its kernels are queued: this is where its time is spent.
   */
  syncAsync(): Promise<void> {
    return this.#runtime.native.syncAsync(this.deviceType, this.deviceId);
  }

  /** The form packed functions take a device argument in. */
  toArg(): { kind: 'device'; deviceType: number; deviceId: number } {
    return { kind: 'device', deviceType: this.deviceType, deviceId: this.deviceId };
  }

  toString(): string {
    return `${this.kind}:${this.deviceId}`;
  }
}

export { DEVICE_TYPE };
