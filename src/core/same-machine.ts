// Which of the addresses that answered discovery are one machine. Every 0share peer process
// answers the who-request with its random instance id, over each of its addresses (IPv4, and its
// IPv6 link-local address through ff02::95c3), so the addresses that claim one id are one peer.
// The claims come in unauthenticated UDP, so they are taken only where a lie cannot hide an
// honest host (docs/security.md, "One machine, several addresses"):
// - an address keeps the first id it claimed; one that claims a second id has none any more
//   (a forged claim cannot quietly move an address to another machine);
// - an id joins its addresses only while at most one IPv4 and one IPv6 address claim it: a
//   second address of a family claiming it (another host copying the id, or a machine with two
//   interfaces on the LAN) makes each of them its own machine again, as without ids.
// Addresses are peerKeys (`10.0.0.2:38339`, `[fe80::1%eth0]:38339`).

export class MachineIds {
  /** Each address's claimed id; null once it has claimed two. */
  private readonly ids = new Map<string, string | null>();

  /** Records that `address` claimed `id`; true if what is known changed. */
  claim(address: string, id: string): boolean {
    const had = this.ids.get(address);
    if (had === id || had === null) return false;
    this.ids.set(address, had === undefined ? id : null);
    return true;
  }

  /** Whether `address` has answered the who-request at all (with one id or more). */
  known(address: string): boolean {
    return this.ids.has(address);
  }

  /** The machine `address` belongs to: `#<id>` while its id joins addresses, else the address itself. */
  machineOf(address: string): string {
    const id = this.ids.get(address);
    if (!id) return address;
    let v4 = 0;
    let v6 = 0;
    for (const [a, other] of this.ids) {
      if (other !== id) continue;
      if (isIpv6Key(a)) v6++;
      else v4++;
    }
    return v4 <= 1 && v6 <= 1 ? `#${id}` : address;
  }

  /** Whether two addresses are one machine, as far as is known now. */
  same(a: string, b: string): boolean {
    return a === b || this.machineOf(a) === this.machineOf(b);
  }
}

const isIpv6Key = (address: string) => address.startsWith('[');
