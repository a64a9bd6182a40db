# tinydata.sh - a tiny MNIST-shaped data set for the shell tests, made with printf and
# awk (no python, no helper program), the same bytes on every run.
#
#   tiny_dataset DIR NTRAIN NTEST   writes the four raw IDX files into DIR
#
# Image i has label i mod 10 and shows a bright vertical bar at column 3 + 2 * label
# over faint noise from a fixed linear congruential sequence (a different one for
# training and test), so a model learns it within an epoch and its predictions have
# clear margins.

# be32 N: 4 bytes, big-endian
be32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
        $(($1 >> 8 & 255)) $(($1 & 255)))"
}

# tiny_images FILE N SEED: u8 IDX, N x 28 x 28
tiny_images() {
    { printf '\000\000\010\003'; be32 "$2"; be32 28; be32 28
      LC_ALL=C awk -v n="$2" -v s="$3" 'BEGIN {
          for (i = 0; i < n; i++) {
              col = 3 + 2 * (i % 10)
              for (p = 0; p < 784; p++) {
                  s = (s * 75 + 74) % 65537   # exact in any awk
                  v = s % 48
                  r = int(p / 28)
                  if (p % 28 == col && r >= 4 && r < 24) v = 255
                  printf "%c", v
              }
          }
      }'; } >"$1"
}

# tiny_labels FILE N: u8 IDX, N labels cycling 0..9
tiny_labels() {
    { printf '\000\000\010\001'; be32 "$2"
      LC_ALL=C awk -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%c", i % 10 }'; } >"$1"
}

tiny_dataset() {
    mkdir -p "$1" &&
        tiny_images "$1/train-images-idx3-ubyte" "$2" 1 &&
        tiny_labels "$1/train-labels-idx1-ubyte" "$2" &&
        tiny_images "$1/t10k-images-idx3-ubyte" "$3" 2 &&
        tiny_labels "$1/t10k-labels-idx1-ubyte" "$3"
}
