package org.vtpmback.xen.jna.xc;

import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.Structure.FieldOrder;

/**
 * {@code xc_domaininfo_t} = {@code struct xen_domctl_getdomaininfo} (domctl interface 0x15, Xen 4.17;
 * layout unchanged through 4.18+). x86-64 offsets from compiling the headers: domain @0, flags @4,
 * tot_pages @8 ... cpu_time @56, nr_online_vcpus @64, max_vcpu_id @68, ssidref @72, handle @76,
 * cpupool @92, gpaddr_bits @96, arch_config @104; 112 bytes. All fields are C unsigned: read them
 * with {@code Short.toUnsignedInt} / {@code Integer.toUnsignedLong} where the range matters.
 *
 * <p>The nested {@code struct xen_arch_domainconfig} is flattened into its two u32 fields; natural
 * alignment gives the same offsets. The constructor checks the size, so a JNA layout change cannot
 * silently misread the hypervisor's data.
 */
@FieldOrder({"domain", "pad1", "flags", "tot_pages", "max_pages", "outstanding_pages", "shr_pages",
        "paged_pages", "shared_info_frame", "cpu_time", "nr_online_vcpus", "max_vcpu_id", "ssidref",
        "handle", "cpupool", "gpaddr_bits", "pad2", "emulation_flags", "misc_flags"})
public final class XcDomainInfo extends Structure {
    /** {@code sizeof(xc_domaininfo_t)} on x86-64. */
    public static final int SIZE = 112;

    public short domain;
    public short pad1;
    public int flags;
    public long tot_pages;
    public long max_pages;
    public long outstanding_pages;
    public long shr_pages;
    public long paged_pages;
    public long shared_info_frame;
    public long cpu_time;
    public int nr_online_vcpus;
    public int max_vcpu_id;
    public int ssidref;
    /** {@code xen_domain_handle_t}: the domain's UUID, RFC 4122 byte order. */
    public byte[] handle = new byte[16];
    public int cpupool;
    public byte gpaddr_bits;
    public byte[] pad2 = new byte[7];
    public int emulation_flags;
    public int misc_flags;

    /** Allocates its own zeroed native memory (a {@code Memory}, freed by the GC). */
    public XcDomainInfo() {
        checkSize();
    }

    /** A view of {@code SIZE} bytes at {@code p}; call {@link #read()} to load the fields. */
    public XcDomainInfo(Pointer p) {
        super(p);
        checkSize();
    }

    /** Byte offset of a field as JNA laid it out; for the layout test. */
    public int offsetOf(String field) {
        return fieldOffset(field);
    }

    private void checkSize() {
        if (size() != SIZE) {
            throw new IllegalStateException("xc_domaininfo_t mapped as " + size() + " bytes, expected " + SIZE);
        }
    }
}
