// The options every vkexec command takes before its name: --machine DIR and --json.

export interface GlobalOpts {
  machine: string | null;
  json: boolean;
}
