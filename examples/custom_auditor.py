"""A custom auditor in one small file: does the model re-recommend what users already have?

Run: python examples/custom_auditor.py
"""

from __future__ import annotations

import numpy as np

import recaudit as ra
from recaudit.metrics.statistics import bootstrap_ci, one_sample_test
from recaudit.report import drawer, figure_to_svg, new_figure


@drawer("share_histogram")  # the report draws figure data through the drawer of its kind
def share_histogram(data: dict) -> str:
    fig, ax = new_figure()
    ax.hist(data["share"], bins=10, range=(0, 1))
    ax.set(xlabel="share of the list already seen", ylabel="users")
    return figure_to_svg(fig)


@ra.register_auditor("repeat_recommendations")
class RepeatRecommendations(ra.Auditor):
    family = "custom"
    requires = frozenset({"rank"})
    method = ("For sampled users, the share of the top-k list made of items already in the "
              "user's training history. A recommender should suggest something new.")
    citation = "recaudit example (no published definition)"
    # every metric run() emits, declared: `recaudit list` shows it, thresholds are checked
    # against it, and default_thresholds ({"repeat_share": 0.05}) is derived from it
    metrics = (ra.MetricSpec("repeat_share", "share of the top-k list already in the user's "
                             "history", higher_is_better=False,
                             threshold=0.05),)  # at most 5% of a list may be repeats

    def __init__(self, k: int = 10, n_users: int = 100, thresholds=None):
        super().__init__(thresholds=thresholds)
        self.k = k
        self.n_users = n_users

    def run(self, model, data, ctx):
        rng = ctx.rng(self.name, "users")
        users = rng.permutation(data.user_ids)[: self.n_users].tolist()
        rankings = model.rank([data.request(u) for u in users], self.k)  # one batch call
        share = np.array([len(set(r.items) & set(data.train_histories[u])) / self.k
                          for u, r in zip(users, rankings)])
        worst = int(np.argmax(share))
        return self.result(
            metrics=[self.metric(  # direction and description come from the declaration
                "repeat_share", share.mean(),
                ci=bootstrap_ci(share, n_resamples=ctx.n_bootstrap, seed=ctx.subseed("ci")),
                p_value=one_sample_test(share, null=self.threshold_for("repeat_share")))],
            # an auditor measures, the report draws: hand it the values, not a picture
            figures={"repeat share per user": ra.Figure("share_histogram", {"share": share})},
            evidence=[{"user": users[worst], "share": float(share[worst]),
                       "recommended": ", ".join(rankings[worst].items[:5])}])


def main() -> ra.AuditReport:
    data = ra.datasets.synthetic(n_users=150, n_items=80, seed=0)

    def forgetful(request, k):  # ranks by popularity and never filters the history
        return data.popularity.sort_values(ascending=False).index[:k].tolist()

    model = ra.models.CallableRecommender(forgetful, data, name="forgetful_most_popular")
    report = ra.audit(model, data, auditors=["repeat_recommendations"], cache=False,
                      progress=False)
    print(report.summary()[["auditor", "metric", "value", "ci_low", "ci_high", "verdict"]])
    return report


if __name__ == "__main__":
    main()
