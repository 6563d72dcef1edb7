package org.vtpmback.backend.manufacture;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.vtpmback.backend.engine.TpmFamily;

/**
 * What an EK certificate says about the TPM it was issued for (TCG EK Credential Profile 2.0 §3.2.9
 * subjectAltName attributes, §3.2.10 subjectDirectoryAttributes TPMSpecification).
 *
 * @param manufacturer tcg-at-tpmManufacturer, {@code "id:"} + 8 hex digits of the TCG vendor id
 * @param model        tcg-at-tpmModel, free text
 * @param version      tcg-at-tpmVersion, {@code "id:"} + hex firmware version
 * @param specFamily   TPMSpecification family, e.g. {@code "2.0"}
 * @param specLevel    TPMSpecification level
 * @param specRevision TPMSpecification revision (times 100, as the TPM reports it)
 */
public record TpmIdentity(String manufacturer, String model, String version, String specFamily, int specLevel,
                          int specRevision) {
    // TPM 2.0 Part 2 §6.13 TPM_PT, PT_FIXED group
    private static final int TPM_PT_FAMILY_INDICATOR = 0x100;
    private static final int TPM_PT_LEVEL = 0x101;
    private static final int TPM_PT_REVISION = 0x102;
    private static final int TPM_PT_MANUFACTURER = 0x105;
    private static final int TPM_PT_VENDOR_STRING_1 = 0x106;
    private static final int TPM_PT_FIRMWARE_VERSION_1 = 0x10B;
    private static final int FIXED_COUNT = 13;

    /** Validates that no field is null or empty. */
    public TpmIdentity {
        for (String s : new String[] {manufacturer, model, version, specFamily}) {
            if (Objects.requireNonNull(s).isEmpty()) {
                throw new IllegalArgumentException("empty TPM identity field");
            }
        }
    }

    /**
     * What swtpm_setup passes to swtpm_localca for this family: the TPMAttributes and TPMSpecification swtpm reports
     * from libtpms ({@code TPMLIB_GetInfo}): IBM's TCG vendor id 0x1014, model "swtpm", version id 20191023 (TPM 2.0,
     * as swtpm 0.7.1 reports it) or 00740001 (TPM 1.2, libtpms' {@code TPM12_GetInfo}: "146.1"); spec 2.0 level 0
     * rev 164, or 1.2 level 2 rev 116. Used when the TPM itself is not asked (always for a TPM 1.2).
     */
    public static TpmIdentity swtpmDefault(TpmFamily family) {
        return family == TpmFamily.TPM2
                ? new TpmIdentity("id:00001014", "swtpm", "id:20191023", "2.0", 0, 164)
                : new TpmIdentity("id:00001014", "swtpm", "id:00740001", "1.2", 2, 116);
    }

    /** Asks a running TPM 2.0 for its fixed properties (one TPM2_GetCapability). */
    static TpmIdentity query(Tpm2Client tpm) {
        Map<Integer, Integer> p = tpm.properties(TPM_PT_FAMILY_INDICATOR, FIXED_COUNT);
        StringBuilder model = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            model.append(ascii(p.getOrDefault(TPM_PT_VENDOR_STRING_1 + i, 0)));
        }
        String family = ascii(p.getOrDefault(TPM_PT_FAMILY_INDICATOR, 0));
        return new TpmIdentity(
                String.format(Locale.ROOT, "id:%08X", p.getOrDefault(TPM_PT_MANUFACTURER, 0)),
                model.toString().isBlank() ? "unknown" : model.toString().strip(),
                String.format(Locale.ROOT, "id:%08X", p.getOrDefault(TPM_PT_FIRMWARE_VERSION_1, 0)),
                family.isEmpty() ? "2.0" : family,
                p.getOrDefault(TPM_PT_LEVEL, 0),
                p.getOrDefault(TPM_PT_REVISION, 0));
    }

    /** A UINT32 property holding up to four ASCII characters, NUL-padded (Part 2 §6.13). */
    private static String ascii(int v) {
        byte[] b = ByteBuffer.allocate(4).putInt(v).array();
        int n = 0;
        while (n < 4 && b[n] >= 0x20 && b[n] < 0x7F) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.US_ASCII);
    }
}
