# rank_test.awk - the Mann-Whitney U test (Wilcoxon rank-sum) of two samples.
#
#   awk -v a="0.11 0.08 0.15" -v b="0.17 0.20 0.37" -f scripts/rank_test.awk
#
# Samples are separated by spaces or commas. Prints one CSV line
#
#   u_a,u_b,p,method,n_a,n_b,p_min
#
# u_a   pairs (x from a, y from b) with x > y, ties counting 1/2; u_b = n_a n_b - u_a
# p     two-sided p-value: P(|U - n_a n_b / 2| >= |u_a - n_a n_b / 2|) when the two
#       samples come from one distribution
# method  "exact": every one of the C(n_a + n_b, n_a) ways to split the pooled ranks
#       (midranks for ties) is enumerated, when there are at most exact_limit of them
#       (default 200000); "normal": the normal approximation with continuity
#       correction, z = (|U - n_a n_b / 2| - 1/2) / sigma, the variance corrected for
#       ties: sigma^2 = n_a n_b / 12 ((n + 1) - sum(t^3 - t) / (n (n - 1)))
# p_min the smallest p any outcome could have with these sample sizes, for the exact
#       method (2 / C(n_a + n_b, n_a) without ties); empty for the normal one
#
# Exit status 2 when a sample is empty or holds a non-number.

function erfc(x,    t, z, r, c, i) { # Numerical Recipes' erfcc: relative error < 1.2e-7
    split("-1.26551223 1.00002368 0.37409196 0.09678418 -0.18628806 0.27886807 " \
          "-1.13520398 1.48851587 -0.82215223 0.17087277", c, " ")
    z = x < 0 ? -x : x
    t = 1 / (1 + 0.5 * z)
    r = 0
    for (i = 10; i >= 2; i--) r = t * (c[i] + r)
    r = t * exp(-z * z + c[1] + r)
    return x >= 0 ? r : 2 - r
}

function parse(s, g,    k, f, i, m) { # appends sample s (group g) to V/G; returns its size
    gsub(/,/, " ", s)
    k = split(s, f, " ")
    m = 0
    for (i = 1; i <= k; i++) {
        if (f[i] !~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/) bad = 1
        N++; V[N] = f[i] + 0; G[N] = g; m++
    }
    return m
}

# Splits of ranks R[i..N] taking k more, sum s so far: counts those as extreme as seen.
function enumerate(i, k, s) {
    if (k == 0) {
        u = s - NA * (NA + 1) / 2 - MU
        if ((u < 0 ? -u : u) >= D - 1e-9) EXTREME++
        TOTAL++
        return
    }
    if (N - i + 1 < k) return
    enumerate(i + 1, k - 1, s + R[i])
    enumerate(i + 1, k, s)
}

# C(n, k) as a float.
function binom(n, k,    r, i) {
    r = 1
    for (i = 1; i <= k; i++) r = r * (n - k + i) / i
    return r
}

BEGIN {
    if (exact_limit == "") exact_limit = 200000
    N = 0
    NA = parse(a, "a")
    NB = parse(b, "b")
    if (bad || NA == 0 || NB == 0) {
        print "rank_test.awk: two non-empty samples of numbers needed (-v a=... -v b=...)" > "/dev/stderr"
        exit 2
    }
    for (i = 1; i <= N; i++) O[i] = i
    for (i = 2; i <= N; i++) { # insertion sort of the indices by value
        j = i; x = O[i]
        while (j > 1 && V[O[j - 1]] > V[x]) { O[j] = O[j - 1]; j-- }
        O[j] = x
    }
    ties = 0
    for (i = 1; i <= N; i = j) { # midranks; sum of t^3 - t over tie groups
        for (j = i; j <= N && V[O[j]] == V[O[i]]; j++) ;
        t = j - i
        for (k = i; k < j; k++) R[O[k]] = (i + j - 1) / 2
        ties += t * t * t - t
    }
    ra = 0
    for (i = 1; i <= N; i++) if (G[i] == "a") ra += R[i]
    ua = ra - NA * (NA + 1) / 2
    ub = NA * NB - ua
    MU = NA * NB / 2
    D = ua - MU; if (D < 0) D = -D
    total = binom(N, NA)
    if (total <= exact_limit) {
        method = "exact"
        EXTREME = 0; TOTAL = 0
        enumerate(1, NA, 0)
        p = EXTREME / TOTAL
        # the most extreme split possible: the n_a smallest or the n_a largest ranks
        lo = 0; hi = 0
        for (i = 1; i <= NA; i++) { lo += R[O[i]]; hi += R[O[N + 1 - i]] }
        dlo = MU - (lo - NA * (NA + 1) / 2)
        dhi = hi - NA * (NA + 1) / 2 - MU
        D = dlo > dhi ? dlo : dhi; EXTREME = 0; TOTAL = 0
        enumerate(1, NA, 0)
        pmin = sprintf("%.9g", EXTREME / TOTAL)
    } else {
        method = "normal"
        var = NA * NB / 12 * ((N + 1) - ties / (N * (N - 1)))
        if (var <= 0) p = 1
        else {
            z = (D - 0.5) / sqrt(var)
            if (z < 0) z = 0
            p = erfc(z / sqrt(2))
        }
        pmin = ""
    }
    if (p > 1) p = 1
    printf "%.9g,%.9g,%.9g,%s,%d,%d,%s\n", ua, ub, p, method, NA, NB, pmin
}
