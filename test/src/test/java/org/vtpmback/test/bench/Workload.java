package org.vtpmback.test.bench;

import java.nio.ByteBuffer;
import org.vtpmback.backend.engine.TpmCommands;

/**
 * The TPM 2.0 commands a benchmark client sends: command {@code i} of client {@code client} comes from
 * a fixed cycle, so raw swtpm and the relay get exactly the same bytes. Stateless.
 */
enum Workload {
    /** Cheap commands that leave swtpm's permanent state alone: nothing to checkpoint. */
    MIX("GetRandom(32), PCR_Extend(16), PCR_Read(16)") {
        @Override
        byte[] command(int client, long i) {
            return switch ((int) (i % 3)) {
                case 0 -> TpmCommands.getRandom(32);
                case 1 -> TpmCommands.pcrExtendSha256(PCR, TpmCommands.digest((int) i));
                default -> TpmCommands.pcrReadSha256(PCR);
            };
        }
    },
    /**
     * A state-changing command: new data every time, so swtpm rewrites (and fsyncs) its permall file
     * and the daemon then seals and saves a checkpoint before answering the guest.
     */
    NV_WRITE("NV_Write 32 B (permanent state changes)") {
        @Override
        byte[] command(int client, long i) {
            byte[] data = ByteBuffer.allocate(NV_SIZE).putInt(client).putLong(i).array();
            return TpmCommands.nvWrite(NV_INDEX, data);
        }
    };

    /** PCR 16, the debug PCR: resettable and extendable at locality 0. */
    static final int PCR = 16;
    /** An owner-range NV index each TPM gets before the NV_WRITE runs ({@link #nvSetup()}). */
    static final int NV_INDEX = 0x0100_0100;
    static final int NV_SIZE = 32;

    private final String description;

    Workload(String description) {
        this.description = description;
    }

    abstract byte[] command(int client, long i);

    String description() {
        return description;
    }

    /** Defines {@link #NV_INDEX} (owner auth, empty password, no dictionary-attack protection). */
    static byte[] nvSetup() {
        return TpmCommands.nvDefineSpace(NV_INDEX, NV_SIZE);
    }
}
