/** Types for writeLocalSettings.mjs, so the tests can import it. */
export declare const LOCAL_ONLY: ReadonlySet<string>;
export interface LocalSettings {
  IsEncrypted: false;
  Values: Record<string, string>;
  [key: string]: unknown;
}
export declare function buildLocalSettings(
  sample: { Values: Record<string, string> },
  existing: ({ Values?: Record<string, string> } & Record<string, unknown>) | undefined,
  env: Record<string, string | undefined>,
): { settings: LocalSettings; fromEnv: string[] };
