/* Search results: a summary for every hit, and no page error.
 *
 * Sphinx's searchtools.js summarises a hit from the text of its anchor's target. The
 * target of an index entry ({index} in a chapter) is an empty <span id="index-N">, so
 * the summary text is empty, makeSearchSummary returns null, and appendChild(null)
 * throws ("parameter 1 is not of type 'Node'") for every such hit. Here an empty target
 * is summarised from the text that follows it in its section (makeSearchSummary then
 * cuts the part around the search term); and a summary is never null. Loaded (deferred) on search.html only, after
 * searchtools.js defined Search and before the query runs on DOMContentLoaded.
 */
(() => {
  "use strict";
  if (typeof Search === "undefined") return;

  const htmlToText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const text = htmlToText(htmlString, anchor);
    if (!anchor || text.trim()) return text;
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    page.querySelectorAll(".headerlink, script, style").forEach((el) => el.remove());
    let target = null;
    try {
      target = page.querySelector(`[role="main"] ${anchor}`);
    } catch (error) {
      target = null; // an anchor that is no valid selector: fall back to the page
    }
    if (target) {
      // the text that follows the entry, to the end of its section
      const section = target.closest("section") || target.parentElement;
      const range = page.createRange();
      range.setStartAfter(target);
      range.setEnd(section, section.childNodes.length);
      const following = range.toString();
      if (following.trim()) return following;
      if (section.textContent.trim()) return section.textContent;
    }
    return htmlToText(htmlString, "");
  };

  const makeSearchSummary = Search.makeSearchSummary;
  Search.makeSearchSummary = (htmlText, keywords, anchor) =>
    makeSearchSummary(htmlText, keywords, anchor) || document.createTextNode("");
})();
