package org.vtpmback.backend.device;

/** Strict parsing of the decimal numbers xenstore carries (ring-ref, event-channel, domids). */
final class Decimal {
    private Decimal() {
    }

    /** ASCII digits only, no sign, no leading zero (except "0"), at most {@code maxDigits}. */
    static boolean isCanonical(String s, int maxDigits) {
        if (s == null || s.isEmpty() || s.length() > maxDigits || (s.length() > 1 && s.charAt(0) == '0')) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }
}
