/** Devices by name, as TVM numbers them (DLPack device types). */
import { InvalidArgumentError } from '../errors.js';

export type DeviceKind = 'cpu' | 'cuda' | 'opencl' | 'vulkan' | 'metal';

export const DEVICE_TYPE: Readonly<Record<DeviceKind, number>> = {
  cpu: 1,
  cuda: 2,
  opencl: 4,
  vulkan: 7,
  metal: 8,
};

const KIND_BY_TYPE = new Map<number, DeviceKind>(
  Object.entries(DEVICE_TYPE).map(([k, v]) => [v, k as DeviceKind]),
);

export function deviceKindOf(deviceType: number): DeviceKind | undefined {
  return KIND_BY_TYPE.get(deviceType);
}

/** TVM target names that are not device names: 'llvm' compiles for the CPU. */
const TARGET_DEVICES: Readonly<Record<string, DeviceKind>> = { llvm: 'cpu' };

/** The device a TVM target (or executable kind) runs on: 'llvm' is the CPU; device names are themselves. */
export function deviceOfTarget(name: string): string {
  return TARGET_DEVICES[name] ?? name;
}

/** Parses 'opencl', 'opencl:1', 'cpu', 'llvm' (TVM's name for the CPU target). */
export function parseDeviceSpec(spec: string): { kind: DeviceKind; id: number } {
  const match = /^([a-z]+)(?::(\d+))?$/.exec(spec.trim().toLowerCase());
  const name = match?.[1] === undefined ? undefined : deviceOfTarget(match[1]);
  if (!match || name === undefined || !Object.hasOwn(DEVICE_TYPE, name)) {
    throw new InvalidArgumentError(
      `unknown device '${spec}': expected one of ${Object.keys(DEVICE_TYPE).join(', ')}, optionally with ':<id>'`,
    );
  }
  return { kind: name as DeviceKind, id: match[2] === undefined ? 0 : Number(match[2]) };
}

/** TVM's DeviceAttrKind numbers (runtime.GetDeviceAttr). */
export const DEVICE_ATTR = {
  exist: 0,
  maxThreadsPerBlock: 1,
  warpSize: 2,
  maxSharedMemoryPerBlock: 3,
  computeVersion: 4,
  deviceName: 5,
  maxClockRate: 6,
  multiProcessorCount: 7,
  maxThreadDimensions: 8,
  maxRegistersPerBlock: 9,
  apiVersion: 11,
  driverVersion: 12,
  l2CacheSizeBytes: 13,
  totalGlobalMemory: 14,
  availableGlobalMemory: 15,
} as const;
