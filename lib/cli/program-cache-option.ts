/** --program-cache, as every command that uses or reports the OpenCL program cache takes it. */
import { Option } from 'commander';

const DEFAULT_PLACE = 'default: SD_MALI_CACHE_DIR, else $XDG_CACHE_HOME/sd-mali, else ~/.cache/sd-mali';

/** 'off' turns the cache off (StableDiffusion.load's programCache: false). */
export function parseProgramCache(value: string): string | false {
  return value === 'off' ? false : value;
}

/**
 * `use`: commands that load a model and keep programs there (a directory or 'off');
 * `inspect`: commands that report or clear it (a directory).
 */
export function programCacheOption(purpose: 'use' | 'inspect'): Option {
  return purpose === 'use'
    ? new Option('--program-cache <dir|off>', `where compiled OpenCL programs are kept between runs (${DEFAULT_PLACE}); off: none`).argParser(parseProgramCache)
    : new Option('--program-cache <dir>', `the OpenCL program cache (${DEFAULT_PLACE})`);
}
