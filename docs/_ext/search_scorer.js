// Sphinx search scorer (conf.py: html_search_scorer). A reader who searches for a
// term wants the chapter that explains it before the reference pages that list it:
// the glossary, the API reference, the notation and the bibliography come after
// every chapter, in their own order. Everything else is Sphinx's default scoring.
var Scorer = {
  score: (result) => {
    const [docname, title, anchor, descr, score, filename, kind] = result;
    const reference = ["glossary", "api", "notation", "bibliography", "genindex"];
    return reference.includes(docname) ? score - 1000 : score;
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: {0: 15, 1: 5, 2: -5},
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
