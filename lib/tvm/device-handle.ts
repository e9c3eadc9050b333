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

/** A device as TVM sees it; its facts come from `runtime.GetDeviceAttr`. */
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

  /** One attribute; undefined where the runtime or driver has none for this device. */
  attribute(name: keyof typeof DEVICE_ATTR): number | string | undefined {
    const getAttr = this.#runtime.getGlobalFunction('runtime.GetDeviceAttr');
    try {
      const value = getAttr.call(int(this.deviceType), int(this.deviceId), int(DEVICE_ATTR[name]));
      return typeof value === 'number' || typeof value === 'string' ? value : typeof value === 'bigint' ? Number(value) : undefined;
    } catch {
      // Back ends throw for attributes they do not implement (e.g. CPU's warp size).
      return undefined;
    } finally {
      getAttr.dispose();
    }
  }

  /** attribute() on the runtime's worker thread, without blocking the event loop. */
  async attributeAsync(name: keyof typeof DEVICE_ATTR): Promise<number | string | undefined> {
    const getAttr = await this.#runtime.findGlobalFunctionAsync('runtime.GetDeviceAttr');
    if (!getAttr) return undefined;
    try {
      const value = await getAttr.callAsync(int(this.deviceType), int(this.deviceId), int(DEVICE_ATTR[name]));
      return typeof value === 'number' || typeof value === 'string' ? value : typeof value === 'bigint' ? Number(value) : undefined;
    } catch {
      return undefined;
    } finally {
      getAttr.dispose();
    }
  }

  get exists(): boolean {
    return this.attribute('exist') === 1;
  }

  get name(): string | undefined {
    const v = this.attribute('deviceName');
    return typeof v === 'string' ? v : undefined;
  }

  /** Every attribute TVM reports for this device (only `exists` when it is absent). */
  attributes(): DeviceAttributes {
    if (!this.exists) return { exists: false };
    const num = (n: keyof typeof DEVICE_ATTR): number | undefined => {
      const v = this.attribute(n);
      return typeof v === 'number' ? v : undefined;
    };
    const str = (n: keyof typeof DEVICE_ATTR): string | undefined => {
      const v = this.attribute(n);
      return typeof v === 'string' ? v : undefined;
    };
    const out: DeviceAttributes = { exists: true };
    const set = <K extends keyof DeviceAttributes>(k: K, v: DeviceAttributes[K] | undefined): void => {
      if (v !== undefined) out[k] = v;
    };
    set('name', str('deviceName'));
    set('computeVersion', str('computeVersion'));
    set('maxThreadsPerBlock', num('maxThreadsPerBlock'));
    set('warpSize', num('warpSize'));
    set('maxSharedMemoryPerBlock', num('maxSharedMemoryPerBlock'));
    set('multiProcessorCount', num('multiProcessorCount'));
    set('maxClockRate', num('maxClockRate'));
    set('totalGlobalMemory', num('totalGlobalMemory'));
    set('apiVersion', num('apiVersion'));
    set('driverVersion', str('driverVersion'));
    return out;
  }

  /** Waits for everything queued on this device (OpenCL: clFinish), blocking the event loop. */
  sync(): void {
    this.#runtime.native.sync(this.deviceType, this.deviceId);
  }

  /**
   * Waits for everything queued on this device on the runtime's thread. A GPU model call
   * returns once its kernels are queued: this is where its time is actually spent.
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
