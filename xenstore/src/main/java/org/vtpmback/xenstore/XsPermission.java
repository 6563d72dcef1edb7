package org.vtpmback.xenstore;

/**
 * One entry of a node's permission list. The first entry names the owner and the access of every
 * domain not listed; later entries grant access to one domain each (xenstore.txt, "PERMISSIONS").
 */
public record XsPermission(int domid, Access access) {
    public enum Access {
        NONE(0), READ(1), WRITE(2), BOTH(3);

        private final int bits;

        Access(int bits) {
            this.bits = bits;
        }

        public int bits() {
            return bits;
        }

        public static Access ofBits(int bits) {
            return values()[bits & 3];
        }
    }

    public XsPermission {
        if (domid < 0 || domid > 0xffff) {
            throw new IllegalArgumentException("domid out of range: " + domid);
        }
    }

    public static XsPermission owner(int domid) {
        return new XsPermission(domid, Access.NONE);
    }

    public static XsPermission read(int domid) {
        return new XsPermission(domid, Access.READ);
    }
}
