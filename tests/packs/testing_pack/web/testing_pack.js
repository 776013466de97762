// Loaded by the frontend from /extensions/testing_pack/testing_pack.js; proves WEB_DIRECTORY serving.
import { app } from "../../scripts/app.js";

app.registerExtension({ name: "toucan_nb.testing_pack" });
